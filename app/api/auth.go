package api

// Identities and roles. Every client of the API has its own credential
// (`muster token create`): a random token whose SHA-256 digest is kept in
// PostgreSQL, with a name, a role and a scope. The role says which routes
// the client may call (Route.Roles); the name is the actor recorded for
// whatever it does, whatever the request says; the scope narrows a station
// to its sampling points and an inspector to its sites.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/musterhq/muster/internal/domain"
)

// Roles of API credentials.
const (
	// RoleCommand opens, steers and lifts responses.
	RoleCommand = "command"
	// RoleSupervisor reads.
	RoleSupervisor = "supervisor"
	// RoleStation uploads samples for its sampling points (its scope).
	RoleStation = "station"
	// RoleField acknowledges assignments, confirms deliveries, reports
	// stock, checks passes and signs volunteers up.
	RoleField = "field"
	// RoleInspector reports site inspections and re-inspects findings
	// assigned to it (its scope: the sites it may report, or any).
	RoleInspector = "inspector"
	// RoleAdmin publishes runbooks.
	RoleAdmin = "admin"
)

// Roles lists every role.
var Roles = []string{RoleCommand, RoleSupervisor, RoleStation, RoleField, RoleInspector, RoleAdmin}

// Role sets used by the routes.
var (
	readers   = []string{RoleCommand, RoleSupervisor}
	everyRole = Roles
)

// MinTokenBytes is the shortest token accepted: tokens are made by
// NewToken, 64 hex digits; a short one is refused before it is looked up.
const MinTokenBytes = 32

// NewToken returns a new random token (256 bits, hex) and its digest, the
// only form stored.
func NewToken() (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("make a token: %w", err)
	}
	tok := hex.EncodeToString(b[:])
	return tok, TokenDigest(tok), nil
}

// TokenDigest is the SHA-256 digest of a token, as stored.
func TokenDigest(token string) []byte {
	d := sha256.Sum256([]byte(token))
	return d[:]
}

// Principal is the client making a request: its credential.
type Principal struct {
	Name  string
	Role  string
	Scope []string
	// District, when set, is the only district whose incidents the client
	// acts on (its scope's codes are that district's).
	District string
}

type principalKey struct{}

// principal returns the request's client, set by wrap.
func principal(r *http.Request) Principal {
	p, _ := r.Context().Value(principalKey{}).(Principal)
	return p
}

// authenticate finds the credential of the request's bearer token: 401
// when there is none, the token is short, unknown or revoked. With an
// identity provider configured, a token shaped like a JWT is verified by
// it instead (see oidc.go).
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Msg: "missing token: send Authorization: Bearer <token> (`muster token create` makes one)"}
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Msg: "the Authorization header must read: Bearer <token>"}
	}
	token = strings.TrimSpace(token)
	if s.oidc != nil && looksLikeJWT(token) {
		p, err, reason := s.oidc.principal(r.Context(), token)
		if reason != nil {
			s.log.Info("identity provider token refused", "reason", reason.Error())
		}
		return p, err
	}
	if len(token) < MinTokenBytes {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Msg: fmt.Sprintf("the token is too short (at least %d characters): use one made by `muster token create`", MinTokenBytes)}
	}
	digest := TokenDigest(token)
	c, err := s.st.CredentialByToken(r.Context(), digest)
	if errors.Is(err, domain.ErrNotFound) {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Msg: "unknown or revoked token"}
	}
	if err != nil {
		return Principal{}, err
	}
	return Principal{Name: c.Name, Role: c.Role, Scope: c.Scope, District: c.District}, nil
}

// permit refuses a role a route does not allow.
func permit(p Principal, rt Route) error {
	if slices.Contains(rt.Roles, p.Role) {
		return nil
	}
	return &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("role %s may not %s %s (roles allowed: %s)", p.Role, rt.Method, rt.Path, strings.Join(rt.Roles, ", "))}
}

// withPrincipal returns the request carrying its client.
func withPrincipal(r *http.Request, p Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// actor is who acts on a request: the credential's name. A request field
// naming someone else (by, staff, inspector) is refused with 403: the
// field may be left out, or name the credential itself.
func actor(r *http.Request, field, given string) (string, error) {
	p := principal(r)
	given = strings.TrimSpace(given)
	if given != "" && subtle.ConstantTimeCompare([]byte(given), []byte(p.Name)) != 1 {
		return "", &Error{Status: http.StatusForbidden, Field: field,
			Msg: fmt.Sprintf("%s %q: you act as %s, the name of your credential; leave %s out", field, given, p.Name, field)}
	}
	return p.Name, nil
}

// inDistrict refuses an incident outside the credential's district: a
// station's or an inspector's scope names places by code, which another
// district may use for its own.
func (s *Server) inDistrict(r *http.Request, incident string) error {
	p := principal(r)
	if p.District == "" {
		return nil
	}
	d, err := s.st.IncidentDistrict(r.Context(), incident)
	if errors.Is(err, domain.ErrNotFound) {
		return notFound("incident", "no response for incident %q", incident)
	}
	if err != nil {
		return err
	}
	if d != p.District {
		return &Error{Status: http.StatusForbidden, Field: "incident",
			Msg: fmt.Sprintf("incident %q is in district %s; this credential acts in district %s only", incident, d, p.District)}
	}
	return nil
}

// inScope refuses a code outside the credential's scope, for the roles
// that have one: a station's sampling points, an inspector's sites (an
// inspector without a scope may report any site it is assigned).
func inScope(r *http.Request, field, code string) error {
	p := principal(r)
	switch {
	case p.Role == RoleStation && !slices.Contains(p.Scope, code):
		return &Error{Status: http.StatusForbidden, Field: field,
			Msg: fmt.Sprintf("%s %q is not one of this station's sampling points (%s)", field, code, strings.Join(p.Scope, ", "))}
	case p.Role == RoleInspector && len(p.Scope) > 0 && !slices.Contains(p.Scope, code):
		return &Error{Status: http.StatusForbidden, Field: field,
			Msg: fmt.Sprintf("%s %q is not one of this inspector's sites (%s)", field, code, strings.Join(p.Scope, ", "))}
	}
	return nil
}
