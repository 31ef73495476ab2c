package api

// Limits on what one request, and many at once, may cost the server.

import (
	"net/http"
	"regexp"

	"golang.org/x/sync/semaphore"

	"github.com/musterhq/muster/internal/input"
)

// Route classes share a limit of requests served at once: a few large
// uploads must not run the host out of memory, and a flood of reads must
// not starve the command center's actions.
const (
	ClassUpload = "upload"
	ClassAction = "action"
	ClassRead   = "read"
)

// Limits are how many requests of each class are served at once; more are
// answered 503 with Retry-After at once, rather than queued.
type Limits struct {
	Upload, Action, Read int64
}

// DefaultLimits: at most 4 uploads (each up to MaxBodyBytes and a batch of
// rows in memory), 32 actions and 64 reads at once.
var DefaultLimits = Limits{Upload: 4, Action: 32, Read: 64}

// uploads are the routes that carry batches of rows or documents.
var uploads = map[string]bool{
	"/v1/incidents/{incident}/samples": true,
	"/v1/stock":                        true,
	"/v1/runbooks":                     true,
	"/v1/runbooks/validate":            true,
}

// classOf says which limit a route counts against.
func classOf(rt Route) string {
	switch {
	case rt.Method == http.MethodPost && uploads[rt.Path]:
		return ClassUpload
	case rt.Method == http.MethodPost:
		return ClassAction
	}
	return ClassRead
}

type limiter struct {
	classes map[string]*semaphore.Weighted
}

func newLimiter(l Limits) *limiter {
	if l.Upload <= 0 {
		l.Upload = DefaultLimits.Upload
	}
	if l.Action <= 0 {
		l.Action = DefaultLimits.Action
	}
	if l.Read <= 0 {
		l.Read = DefaultLimits.Read
	}
	return &limiter{classes: map[string]*semaphore.Weighted{
		ClassUpload: semaphore.NewWeighted(l.Upload),
		ClassAction: semaphore.NewWeighted(l.Action),
		ClassRead:   semaphore.NewWeighted(l.Read),
	}}
}

// acquire takes a place for a request of the route's class, or reports
// false when the class is full. Public routes (health, the OpenAPI
// document) are not limited, so a busy server still answers its probes.
func (l *limiter) acquire(rt Route) (func(), bool) {
	if rt.Public {
		return func() {}, true
	}
	sem := l.classes[classOf(rt)]
	if !sem.TryAcquire(1) {
		return nil, false
	}
	return func() { sem.Release(1) }, true
}

// wildcard finds the {names} of a route's path.
var wildcard = regexp.MustCompile(`\{([a-z]+)\}`)

// maxQuery is the longest query parameter value: workflow IDs, which name
// an incident and a step path, are longer than other identifiers.
const maxQuery = 256

// checkParams refuses path and query values that break the input limits,
// naming the parameter, before a handler (or the database) sees them.
func checkParams(r *http.Request, rt Route) error {
	for _, m := range wildcard.FindAllStringSubmatch(rt.Path, -1) {
		if err := input.ID(m[1], r.PathValue(m[1])); err != nil {
			return badRequest(m[1], "%v", err)
		}
	}
	for name, vs := range r.URL.Query() {
		if err := input.ID("(query parameter name)", name); err != nil {
			return badRequest("", "%v", err)
		}
		for _, v := range vs {
			max := input.MaxID
			if name == "workflow" {
				max = maxQuery
			}
			if err := input.IDUpTo(name, v, max); err != nil {
				return badRequest(name, "%v", err)
			}
		}
	}
	return nil
}
