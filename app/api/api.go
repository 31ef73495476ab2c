// Package api is Muster's HTTP API: the command center's operations (open
// and steer responses, read progress, events, runbooks and areas) as JSON
// over HTTP, described by the OpenAPI document served at /openapi.json.
// `muster serve` runs it; docs/api.md shows every endpoint with curl.
package api

import (
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/internal/codec"
	"github.com/musterhq/muster/internal/store"
)

// Settings of `muster serve`, read from the environment.
const (
	// EnvAddr names the variable holding the listen address, when no
	// --addr flag is given.
	EnvAddr = "MUSTER_API_ADDR"
	// DefaultAddr is where the API listens unless told otherwise: the
	// loopback interface, so exposing it is a decision.
	DefaultAddr = "127.0.0.1:8080"
)

// MaxBodyBytes is the largest request body the API reads, on every route.
const MaxBodyBytes = 8 << 20

// Timeouts of the calls the API makes to Temporal on a request's behalf.
const (
	queryTimeout  = 10 * time.Second
	updateTimeout = 30 * time.Second
	healthTimeout = 3 * time.Second
)

//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document describing the API.
func OpenAPI() []byte { return openAPIDocument }

// Options is what a Server needs.
type Options struct {
	Store    *store.Store
	Temporal client.Client
	// TaskQueue is the workers' task queue; responses start on it.
	TaskQueue string
	// Logger receives one line per request; nil discards them.
	Logger *slog.Logger
	// Limits bounds the requests served at once; zero values take
	// DefaultLimits.
	Limits Limits
	// Codec, when set, is served at /codec/encode and /codec/decode
	// (Temporal's remote codec protocol) to CodecOrigins, so that the Web UI
	// decodes payloads for a caller with a credential.
	Codec        *codec.Codec
	CodecOrigins []string
	// UIURL is the Temporal Web UI's base URL the board links executions
	// to, and Namespace their namespace; no links when UIURL is empty.
	UIURL     string
	Namespace string
	// OIDC, when set, verifies bearer tokens shaped like a JWT with an
	// identity provider; other tokens are looked up as credentials.
	OIDC *OIDC
}

// Server serves the API. Build it with New.
type Server struct {
	st        *store.Store
	tc        client.Client
	taskQueue string
	log       *slog.Logger
	mux       *http.ServeMux
	limits    *limiter
	uiURL     string
	namespace string
	oidc      *OIDC
}

// New returns a Server; it refuses to build one without a store (which
// holds the credentials), a Temporal client or a task queue.
func New(o Options) (*Server, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("api: no store")
	case o.Temporal == nil:
		return nil, errors.New("api: no Temporal client")
	case strings.TrimSpace(o.TaskQueue) == "":
		return nil, errors.New("api: no task queue")
	}
	s := &Server{st: o.Store, tc: o.Temporal, taskQueue: o.TaskQueue, log: o.Logger, uiURL: o.UIURL, namespace: o.Namespace, oidc: o.OIDC}
	if s.namespace == "" {
		s.namespace = "default"
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, rt := range s.routes() {
		if !rt.Public && len(rt.Roles) == 0 {
			return nil, fmt.Errorf("api: route %s %s names no role that may call it", rt.Method, rt.Path)
		}
	}
	s.limits = newLimiter(o.Limits)
	s.mux = s.newMux()
	if o.Codec != nil {
		s.mux.Handle(CodecPath+"/", codec.Handler(o.Codec, codec.HandlerOptions{Authorize: s.authorizeCodec, Prefix: CodecPath, Origins: o.CodecOrigins}))
	}
	return s, nil
}

// CodecPath is where the codec server is mounted.
const CodecPath = "/codec"

// codecRoles may use the codec server: the people who read histories in
// the Web UI.
var codecRoles = []string{RoleSupervisor, RoleCommand}

// authorizeCodec decides who may decode payloads: a live credential of a
// role in codecRoles.
func (s *Server) authorizeCodec(r *http.Request) error {
	err := func() error {
		p, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if !slices.Contains(codecRoles, p.Role) {
			return &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("role %s may not use the codec server (roles allowed: %s)", p.Role, strings.Join(codecRoles, ", "))}
		}
		return nil
	}()
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return &codec.Refusal{Status: e.Status, Msg: e.Msg}
		}
		return err
	}
	return nil
}

func (s *Server) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	return mux
}

// Route is one endpoint of the API.
type Route struct {
	Method string
	// Path is a net/http pattern path, which is also the OpenAPI path.
	Path    string
	Summary string
	// Public routes need no token.
	Public bool
	// Roles may call the route; every route that is not public names them.
	Roles []string
	// MaxBody is the largest body the route reads; 0 (or more than
	// MaxBodyBytes) means MaxBodyBytes.
	MaxBody int64
	h       func(http.ResponseWriter, *http.Request) error
}

// Routes lists the API's endpoints, in the order the docs present them.
func Routes() []Route {
	rs := (&Server{}).routes()
	for i := range rs {
		rs[i].h = nil
	}
	return rs
}

func (s *Server) routes() []Route {
	return append([]Route{
		{Method: "GET", Path: "/healthz", Summary: "Check the database and Temporal (no token)", Public: true, h: s.health},
		{Method: "GET", Path: "/openapi.json", Summary: "This API's OpenAPI 3.1 document (no token)", Public: true, h: s.openAPI},
		{Method: "POST", Path: "/v1/responses", Roles: []string{RoleCommand}, Summary: "Open an incident's response with a runbook", h: s.startResponse},
		{Method: "GET", Path: "/v1/responses", Roles: readers, Summary: "List responses by area, step state, running", h: s.listResponses},
		{Method: "GET", Path: "/v1/responses/{incident}", Roles: readers, Summary: "A response's progress tree", h: s.getResponse},
		{Method: "GET", Path: "/v1/responses/{incident}/events", Roles: readers, Summary: "An incident's event log", h: s.events},
		{Method: "POST", Path: "/v1/responses/{incident}/lift", Roles: []string{RoleCommand}, Summary: "Lift a response", h: s.lift},
		{Method: "POST", Path: "/v1/responses/{incident}/escalate", Roles: []string{RoleCommand}, Summary: "Change a response's level", h: s.escalate},
		{Method: "POST", Path: "/v1/responses/{incident}/areas", Roles: []string{RoleCommand}, Summary: "Widen a response to another area", h: s.addArea},
		{Method: "POST", Path: "/v1/responses/{incident}/steps/retry", Roles: []string{RoleCommand}, Summary: "Retry a stalled step now", h: s.retryStep},
		{Method: "POST", Path: "/v1/responses/{incident}/steps/skip", Roles: []string{RoleCommand}, Summary: "Give up a step; the runbook goes on", h: s.stepAction(actSkip)},
		{Method: "POST", Path: "/v1/responses/{incident}/steps/abort", Roles: []string{RoleCommand}, Summary: "Stop a step and the rest of its sequence", h: s.stepAction(actAbort)},
		{Method: "POST", Path: "/v1/responses/{incident}/steps/pause", Roles: []string{RoleCommand}, Summary: "Pause a step", h: s.stepAction(actPause)},
		{Method: "POST", Path: "/v1/responses/{incident}/steps/resume", Roles: []string{RoleCommand}, Summary: "Resume a paused step", h: s.stepAction(actResume)},
		{Method: "POST", Path: "/v1/responses/{incident}/steps/decide", Roles: []string{RoleCommand}, Summary: "Answer an approval step", h: s.decide},
		{Method: "GET", Path: "/v1/incidents/{incident}/inspection", Roles: []string{RoleCommand, RoleSupervisor, RoleInspector}, Summary: "Inspection report: findings per sub-district and unit, shared problems, the open list", h: s.inspectionReport},
		{Method: "POST", Path: "/v1/incidents/{incident}/inspection/sites", Roles: []string{RoleInspector}, Summary: "Report one site's inspection, with its findings or none", h: s.reportSite},
		{Method: "POST", Path: "/v1/incidents/{incident}/findings/{finding}/rectify", Roles: []string{RoleCommand, RoleField}, Summary: "Report a finding rectified", h: s.rectify},
		{Method: "POST", Path: "/v1/incidents/{incident}/findings/{finding}/reinspect", Roles: []string{RoleInspector}, Summary: "Re-inspect a rectified finding (assigned inspector only)", h: s.reinspect},
		{Method: "GET", Path: "/v1/runbooks", Roles: []string{RoleCommand, RoleSupervisor, RoleAdmin}, Summary: "List published runbooks", h: s.listRunbooks},
		{Method: "POST", Path: "/v1/runbooks", Roles: []string{RoleAdmin}, Summary: "Publish a runbook (YAML body)", h: s.publishRunbook},
		{Method: "POST", Path: "/v1/runbooks/validate", Roles: []string{RoleAdmin, RoleCommand}, Summary: "Validate a runbook (YAML body) without publishing it", h: s.validateRunbook},
		{Method: "GET", Path: "/v1/runbooks/{name}", Roles: []string{RoleCommand, RoleSupervisor, RoleAdmin}, Summary: "A published runbook version", h: s.getRunbook},
		{Method: "GET", Path: "/v1/areas", Roles: everyRole, Summary: "Areas of the loaded scenario", h: s.areas},
		{Method: "POST", Path: "/v1/incidents/{incident}/samples", Roles: []string{RoleStation}, Summary: "Upload a batch of samples (CSV or JSON rows)", MaxBody: MaxSamplesBodyBytes, h: s.uploadSamples},
		{Method: "POST", Path: "/v1/incidents/{incident}/home-visits", Roles: []string{RoleField}, Summary: "Record a batch of home visits of a round", h: s.recordVisits},
		{Method: "GET", Path: "/v1/incidents/{incident}/assignments", Roles: []string{RoleCommand, RoleSupervisor, RoleField}, Summary: "An incident's staff assignments", h: s.listAssignments},
		{Method: "POST", Path: "/v1/assignments/{id}/ack", Roles: []string{RoleField}, Summary: "Acknowledge an assignment (the person assigned)", h: s.ackAssignment},
		{Method: "POST", Path: "/v1/incidents/{incident}/volunteers", Roles: []string{RoleField}, Summary: "Sign up as a volunteer", h: s.signUp},
		{Method: "POST", Path: "/v1/stock", Roles: []string{RoleField}, Summary: "Report suppliers' stock", h: s.reportStock},
		{Method: "GET", Path: "/v1/areas/{area}/stock", Roles: []string{RoleCommand, RoleSupervisor, RoleField}, Summary: "Stock of the suppliers serving an area", h: s.stock},
		{Method: "GET", Path: "/v1/incidents/{incident}/shipments", Roles: []string{RoleCommand, RoleSupervisor, RoleField}, Summary: "An incident's restock shipments", h: s.shipments},
		{Method: "POST", Path: "/v1/shipments/{id}/delivery", Roles: []string{RoleField}, Summary: "Confirm a shipment's delivery", h: s.confirmDelivery},
		{Method: "POST", Path: "/v1/incidents/{incident}/passes", Roles: []string{RoleCommand}, Summary: "Issue a pass to a vehicle", h: s.issuePass},
		{Method: "GET", Path: "/v1/incidents/{incident}/notices", Roles: readers, Summary: "An incident's notice deliveries and their counts per state", h: s.listNotices},
		{Method: "POST", Path: "/v1/notices/{id}/resend", Roles: []string{RoleCommand}, Summary: "Send an undelivered notice delivery again", h: s.resendNotice},
		{Method: "GET", Path: "/v1/passes/{code}", Roles: []string{RoleCommand, RoleSupervisor, RoleField}, Summary: "Verify a pass: valid, expired, not yet valid, revoked, wrong area", h: s.verifyPass},
	}, s.boardRoutes()...)
}

// Handler returns the API's HTTP handler: every request is logged, panics
// become 500s, and requests no route serves get a JSON 404 or 405.
func (s *Server) Handler() http.Handler {
	return s.logRequests(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.mux.Handler(r); pattern == "" {
			s.notRouted(w, r)
			return
		}
		s.mux.ServeHTTP(w, r)
	})))
}

// wrap checks the credential and role of a non-public route, the input
// limits of its parameters and the requests at once of its class, limits
// the body, and writes the handler's error, if any, as JSON.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.Public {
			p, err := s.authenticate(r)
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="muster"`)
				s.writeError(w, r, err)
				return
			}
			if err := permit(p, rt); err != nil {
				s.writeError(w, r, err)
				return
			}
			r = withPrincipal(r, p)
		}
		if err := checkParams(r, rt); err != nil {
			s.writeError(w, r, err)
			return
		}
		release, ok := s.limits.acquire(rt)
		if !ok {
			w.Header().Set("Retry-After", "1")
			s.writeError(w, r, &Error{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("too many %s requests at once: try again in a moment", classOf(rt))})
			return
		}
		defer release()
		limit := int64(MaxBodyBytes)
		if rt.MaxBody > 0 && rt.MaxBody < limit {
			limit = rt.MaxBody
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		if err := rt.h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// notRouted answers a request no route serves with the status the mux
// chose (404, or 405 with its Allow header) in the API's error format.
func (s *Server) notRouted(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{header: http.Header{}}
	s.mux.ServeHTTP(rec, r)
	switch {
	case rec.status == http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		s.writeError(w, r, &Error{Status: rec.status, Msg: fmt.Sprintf("%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow"))})
	case rec.status >= 400 || rec.status == 0:
		s.writeError(w, r, &Error{Status: http.StatusNotFound, Msg: fmt.Sprintf("no endpoint %s %s (see /openapi.json)", r.Method, r.URL.Path)})
	default:
		// A redirect to the cleaned path, for instance.
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
	}
}

// statusRecorder keeps what the mux would have written.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("Panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				s.writeError(w, r, fmt.Errorf("internal error: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// loggedWriter remembers the status and the error written, for the log.
type loggedWriter struct {
	http.ResponseWriter
	status int
	bytes  int
	err    string
}

func (w *loggedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *loggedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *loggedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestIDHeader carries the ID of each request in its answer; the log
// line of the request carries the same ID.
const requestIDHeader = "X-Request-Id"

// newRequestID returns a random ID for a request.
func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logRequests logs one line per request: method, path (without the query),
// status and duration. Headers, and so the token, are never logged.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		w.Header().Set(requestIDHeader, id)
		lw := &loggedWriter{ResponseWriter: w}
		next.ServeHTTP(lw, r)
		if lw.status == 0 {
			lw.status = http.StatusOK
		}
		attrs := []any{"request", id, "method", r.Method, "path", r.URL.Path, "status", lw.status,
			"duration", time.Since(start).Round(time.Microsecond), "bytes", lw.bytes, "remote", r.RemoteAddr}
		switch {
		case lw.status >= 500:
			s.log.Error("API request", append(attrs, "error", lw.err)...)
		case lw.err != "":
			s.log.Info("API request", append(attrs, "error", lw.err)...)
		default:
			s.log.Info("API request", attrs...)
		}
	})
}
