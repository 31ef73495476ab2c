package api

// OIDC bearer tokens, for districts that have an identity provider. When
// `muster serve` is given an issuer and an audience, a bearer token that
// has the shape of a JWT is verified against the issuer's published keys
// (OpenID discovery and its JWKS) instead of being looked up in the
// credential table: its signature, issuer, audience and expiry must hold.
// The role and the scope come from claims the provider is configured to
// put in the token, and the actor recorded is the token's
// preferred_username, else its subject. Opaque tokens still go to the
// credential table, so both kinds of client can share one server.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/musterhq/muster/internal/input"
)

// Environment variables and defaults of the OIDC options of `muster serve`.
const (
	EnvOIDCIssuer        = "MUSTER_OIDC_ISSUER"
	EnvOIDCAudience      = "MUSTER_OIDC_AUDIENCE"
	EnvOIDCRoleClaim     = "MUSTER_OIDC_ROLE_CLAIM"
	EnvOIDCScopeClaim    = "MUSTER_OIDC_SCOPE_CLAIM"
	DefaultOIDCRoleClaim = "muster_role"
	// DefaultOIDCScopeClaim holds a list of codes: a station's sampling
	// points, an inspector's sites.
	DefaultOIDCScopeClaim = "muster_scope"
)

// actorName is what a recorded actor may be, the rule credential names
// follow in the database: lower-case letters, digits, '.', '_' and '-',
// up to 64 characters.
var actorName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// OIDCConfig names the identity provider whose tokens the API accepts.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Audience is the client ID tokens must be issued for (their aud).
	Audience string
	// RoleClaim and ScopeClaim name the claims holding the role and the
	// scope; empty takes DefaultOIDCRoleClaim and DefaultOIDCScopeClaim.
	RoleClaim  string
	ScopeClaim string
	// HTTPClient fetches the discovery document and the keys; nil takes a
	// client with a 10-second timeout.
	HTTPClient *http.Client
}

// OIDC verifies an identity provider's tokens. Build it with NewOIDC.
type OIDC struct {
	verifier   *oidc.IDTokenVerifier
	roleClaim  string
	scopeClaim string
}

// NewOIDC reads the issuer's discovery document and returns a verifier of
// its tokens for the audience. The keys are fetched when first needed and
// again when a token names a key not yet seen, so the provider may rotate
// them.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	cfg.Issuer = strings.TrimSpace(cfg.Issuer)
	cfg.Audience = strings.TrimSpace(cfg.Audience)
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("oidc: no issuer URL (--oidc-issuer)")
	case cfg.Audience == "":
		return nil, fmt.Errorf("oidc issuer %s: no audience (--oidc-audience): the client ID tokens must be issued for", cfg.Issuer)
	}
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = DefaultOIDCRoleClaim
	}
	if cfg.ScopeClaim == "" {
		cfg.ScopeClaim = DefaultOIDCScopeClaim
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	// The key set keeps this context to fetch keys for as long as the
	// server runs, so it must outlive the caller's; discovery has its own
	// deadline.
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), hc)
	dctx, cancel := context.WithTimeout(pctx, 30*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc issuer %s: read its discovery document: %w", cfg.Issuer, err)
	}
	var meta struct {
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc issuer %s: read its discovery document: %w", cfg.Issuer, err)
	}
	if meta.JWKSURL == "" {
		return nil, fmt.Errorf("oidc issuer %s: its discovery document names no jwks_uri", cfg.Issuer)
	}
	keys := oidc.NewRemoteKeySet(pctx, meta.JWKSURL)
	v := oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: meta.Algs})
	return &OIDC{verifier: v, roleClaim: cfg.RoleClaim, scopeClaim: cfg.ScopeClaim}, nil
}

// looksLikeJWT reports whether a bearer token has a JWT's compact shape:
// three base64url parts separated by dots. Tokens made by NewToken are
// hex and have no dot.
func looksLikeJWT(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts[:2] {
		if p == "" || strings.Trim(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// principal verifies a token and returns the client it names. A token
// that fails verification is 401 with a message that says what to do but
// not which check failed beyond expiry (an attacker learns nothing from
// it); the reason is returned apart, for the server's log. A valid token
// whose claims do not name a role, scope or actor Muster accepts is 403.
func (o *OIDC) principal(ctx context.Context, token string) (Principal, error, error) {
	t, err := o.verifier.Verify(ctx, token)
	var expired *oidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return Principal{}, &Error{Status: http.StatusUnauthorized, Msg: "the token has expired: get a new one from your identity provider"}, err
	case err != nil:
		return Principal{}, &Error{Status: http.StatusUnauthorized, Msg: "the token is not accepted: it must be signed by the configured identity provider and issued for this API"}, err
	}
	var claims map[string]json.RawMessage
	if err := t.Claims(&claims); err != nil {
		return Principal{}, &Error{Status: http.StatusUnauthorized, Msg: "the token's claims cannot be read"}, err
	}
	var role string
	if raw, ok := claims[o.roleClaim]; !ok || json.Unmarshal(raw, &role) != nil || !slices.Contains(Roles, role) {
		return Principal{}, &Error{Status: http.StatusForbidden,
			Msg: fmt.Sprintf("the token's %s claim must name one of the roles: %s", o.roleClaim, strings.Join(Roles, ", "))}, nil
	}
	var scope []string
	if raw, ok := claims[o.scopeClaim]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &scope); err != nil {
			return Principal{}, &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("the token's %s claim must be a list of codes", o.scopeClaim)}, nil
		}
		for _, code := range scope {
			if code == "" || input.ID(o.scopeClaim, code) != nil {
				return Principal{}, &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("the token's %s claim holds a code that is empty, too long or has control characters", o.scopeClaim)}, nil
			}
		}
	}
	var name string
	if raw, ok := claims["preferred_username"]; ok {
		_ = json.Unmarshal(raw, &name)
	}
	if name == "" {
		name = t.Subject
	}
	if !actorName.MatchString(name) {
		return Principal{}, &Error{Status: http.StatusForbidden,
			Msg: "the token's preferred_username (or sub) is not a name Muster records: lower-case letters, digits, '.', '_' and '-', up to 64"}, nil
	}
	return Principal{Name: name, Role: role, Scope: scope}, nil, nil
}
