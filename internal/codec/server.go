package codec

// The codec server: Temporal's remote codec protocol (POST …/encode and
// POST …/decode with a JSON Payloads body), so that an authorised
// supervisor's browser, through the Temporal Web UI, reads what the worker
// encrypted. Every request needs a credential; cross-origin requests are
// answered only for the Web UI's origins.

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// EnvOrigins lists the Web UI origins allowed to call the codec server,
// separated by commas.
const EnvOrigins = "MUSTER_CODEC_ORIGINS"

// DefaultOrigin is the Temporal Web UI of the dev server and of the demo.
const DefaultOrigin = "http://localhost:8233"

// MaxBodyBytes bounds a codec request: the Web UI sends one event's
// payloads at a time.
const MaxBodyBytes = 4 << 20

// Authenticator checks a request's credential. An error refuses the
// request: with the status of a *Refusal, else 401.
type Authenticator func(*http.Request) error

// Refusal is an Authenticator's answer other than 401 (403 for a
// credential whose role may not decode, for instance).
type Refusal struct {
	Status int
	Msg    string
}

func (e *Refusal) Error() string { return e.Msg }

// HandlerOptions configure Handler.
type HandlerOptions struct {
	// Authorize checks each request's credential; it is required.
	Authorize Authenticator
	// Prefix is the path the handler is mounted at, e.g. "/codec". A
	// request to Prefix/<credential>/decode carries its credential in the
	// path, for a Web UI that cannot send an Authorization header (one
	// without a login of its own).
	Prefix string
	// Origins are the Web UI origins allowed to call from a browser.
	Origins []string
	// Namespace, when set, is the only namespace served: a request whose
	// X-Namespace header names another is refused.
	Namespace string
}

// Handler serves c over the remote codec protocol.
func Handler(c *Codec, o HandlerOptions) http.Handler {
	if o.Authorize == nil {
		panic("codec.Handler: no Authorize")
	}
	o.Prefix = "/" + strings.Trim(o.Prefix, "/")
	if o.Prefix == "/" {
		o.Prefix = ""
	}
	return &server{c: c, o: o}
}

// server is the codec's HTTP handler.
type server struct {
	c *Codec
	o HandlerOptions
}

// ServeHTTP answers one request of the remote codec protocol: cross-origin
// checks first, then the route, the method and the credential, then the
// payloads.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.crossOrigin(w, r) {
		return
	}
	op, credential, ok := s.route(r)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no codec endpoint %s: use POST %s/encode or %s/decode", r.URL.Path, s.o.Prefix, s.o.Prefix))
		return
	}
	if credential != "" {
		// The path's credential goes where the authenticator looks, and
		// out of the path, so that request logs never show it.
		r.URL.Path = s.o.Prefix + "/-/" + op
		r.URL.RawPath = ""
		if r.Header.Get("Authorization") == "" {
			r.Header.Set("Authorization", "Bearer "+credential)
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed on the codec server: use POST", r.Method))
		return
	}
	if !s.authorized(w, r) {
		return
	}
	if ns := r.Header.Get("X-Namespace"); s.o.Namespace != "" && ns != "" && ns != s.o.Namespace {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("X-Namespace %q: this codec server serves namespace %q", ns, s.o.Namespace))
		return
	}
	s.transform(w, r, op)
}

// crossOrigin refuses an origin not allowed and answers a preflight; done
// says the request is answered.
func (s *server) crossOrigin(w http.ResponseWriter, r *http.Request) (done bool) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		w.Header().Add("Vary", "Origin")
		if !slices.Contains(s.o.Origins, origin) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("origin %s may not call the codec server (allowed: %s; set %s)", origin, strings.Join(s.o.Origins, ", "), EnvOrigins))
			return true
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		// A preflight carries no credential; the request after it must.
		w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
		w.Header().Set("Access-Control-Max-Age", "600")
		w.Header().Set("Allow", "POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// authorized asks the Authorize hook about the request and, when it
// refuses, answers with the refusal's status.
func (s *server) authorized(w http.ResponseWriter, r *http.Request) bool {
	err := s.o.Authorize(r)
	if err == nil {
		return true
	}
	status := http.StatusUnauthorized
	var ref *Refusal
	if errors.As(err, &ref) && ref.Status != 0 {
		status = ref.Status
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="muster"`)
	}
	writeError(w, status, err.Error())
	return false
}

// transform reads the payloads of the body, encodes or decodes them as op
// says, and answers with the result.
func (s *server) transform(w http.ResponseWriter, r *http.Request, op string) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBodyBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var in commonpb.Payloads
	if err := protojson.Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, "body: want Payloads as JSON ({\"payloads\": [{\"metadata\": {…}, \"data\": \"…\"}]}): "+err.Error())
		return
	}
	var out []*commonpb.Payload
	if op == "encode" {
		out, err = s.c.Encode(in.GetPayloads())
	} else {
		out, err = s.c.Decode(in.GetPayloads())
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	data, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

// route finds the operation, the last element of the path as the protocol
// says, and a credential in the element before it, if any.
func (s *server) route(r *http.Request) (op, credential string, ok bool) {
	rest, found := strings.CutPrefix(r.URL.Path, s.o.Prefix+"/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	op = parts[len(parts)-1]
	if op != "encode" && op != "decode" {
		return "", "", false
	}
	switch len(parts) {
	case 1:
		return op, "", true
	case 2:
		return op, parts[0], parts[0] != ""
	}
	return "", "", false
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]string{"error": msg})
}

// TokenAuthenticator accepts requests that carry token as a bearer token.
// The demo serves its codec with a token of its own this way; the API
// checks its own credentials instead.
func TokenAuthenticator(token string) Authenticator {
	want := sha256Sum(token)
	return func(r *http.Request) error {
		h := r.Header.Get("Authorization")
		if h == "" {
			return errors.New("missing credential: send Authorization: Bearer <token>, or put the token in the endpoint's path")
		}
		scheme, got, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return errors.New("the Authorization header must read: Bearer <token>")
		}
		if !equalDigest(sha256Sum(strings.TrimSpace(got)), want) {
			return errors.New("wrong token")
		}
		return nil
	}
}

func sha256Sum(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// equalDigest compares digests in constant time, so neither the token nor
// its length shows in the timing.
func equalDigest(a, b [sha256.Size]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// OriginsFromEnv reads EnvOrigins: origins separated by commas, or
// DefaultOrigin when it is unset.
func OriginsFromEnv(lookup func(string) (string, bool)) ([]string, error) {
	v, _ := lookup(EnvOrigins)
	if strings.TrimSpace(v) == "" {
		return []string{DefaultOrigin}, nil
	}
	var out []string
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" || u.RawQuery != "") {
			return nil, fmt.Errorf("%s: %q is not an origin (want scheme://host[:port], e.g. %s)", EnvOrigins, o, DefaultOrigin)
		}
		out = append(out, o)
	}
	return out, nil
}
