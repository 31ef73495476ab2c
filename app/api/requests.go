package api

import (
	"net/http"
	"strconv"

	"github.com/musterhq/muster/workflows"
)

// The parts of a request every handler reads alike: keys of the path and
// the JSON body.

// withBody reads a key of the request's path with key, then the JSON body
// into a new T, and stops at the first that is wrong: what every write
// starts with.
func withBody[T, K any](r *http.Request, key func(*http.Request) (K, error)) (K, T, error) {
	var body T
	k, err := key(r)
	if err != nil {
		return k, body, err
	}
	return k, body, decodeJSON(r, &body)
}

// incident reads and checks the {incident} of the path.
func incident(r *http.Request) (string, error) {
	v := r.PathValue("incident")
	if err := workflows.ValidIncident(v); err != nil {
		return "", badRequest("incident", "%v", err)
	}
	return v, nil
}

// sameIncident checks that a body naming an incident names the path's, and
// sets it to the path's when it names none.
func sameIncident(inc string, body *string) error {
	if *body != "" && *body != inc {
		return badRequest("incident", "the path names incident %q and the body %q", inc, *body)
	}
	*body = inc
	return nil
}

// pathID reads the path's positive number called name.
func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest(name, "%s %q: want a positive number", name, v)
	}
	return id, nil
}

// idParam reads the path's {id}.
func idParam(r *http.Request) (int64, error) { return pathID(r, "id") }

// findingID reads the path's {finding}, a finding's number.
func findingID(r *http.Request) (int64, error) {
	v := r.PathValue("finding")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("finding", "finding %q: want a finding number such as 12", v)
	}
	return id, nil
}
