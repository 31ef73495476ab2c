package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/musterhq/muster/internal/runbook"
	"github.com/musterhq/muster/internal/runbook/builtin"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

// BuiltinPublisher is who the built-in runbooks are published by.
const BuiltinPublisher = "built-in"

// Published is the outcome of publishing one runbook definition.
type Published struct {
	Name    string `json:"name"`
	Title   string `json:"title"`
	Version int    `json:"version"`
	// Created is false when the name already had a version with this text.
	Created bool `json:"created"`
}

// ErrReserved is returned for a runbook published under a built-in's name,
// or by someone claiming to be the built-in publisher: those names and
// that publisher are the worker's alone (PublishBuiltins), so a response
// that asks for a built-in runbook always runs the text Muster ships.
var ErrReserved = errors.New("reserved to the built-in runbooks")

// IsBuiltinName reports whether a runbook name is a built-in's.
func IsBuiltinName(name string) bool {
	srcs, err := builtin.Builtin()
	if err != nil {
		return false
	}
	for _, s := range srcs {
		if strings.TrimSuffix(s.Name, ".yaml") == name {
			return true
		}
	}
	return false
}

// PublishRunbook validates a runbook definition against the registered
// step kinds and publishes it as the next version of its name, unless that
// name already has a version with exactly this text. An invalid definition,
// or one naming an area the loaded scenario does not have, publishes
// nothing; its error is runbook.Errors. A built-in's name, or the built-in
// publisher, is ErrReserved.
func PublishRunbook(ctx context.Context, st *store.Store, source string, data []byte, by string) (Published, error) {
	if strings.EqualFold(strings.TrimSpace(by), BuiltinPublisher) {
		return Published{}, fmt.Errorf("publisher %q is %w: publish as yourself", by, ErrReserved)
	}
	d, err := runbook.Parse(source, data, workflows.Kinds)
	if err != nil {
		return Published{}, err
	}
	if IsBuiltinName(d.Name) {
		return Published{}, fmt.Errorf("runbook name %q is %w: give your runbook a name of its own (e.g. %s-local)", d.Name, ErrReserved, d.Name)
	}
	if err := CheckAreas(ctx, st, source, d); err != nil {
		return Published{}, err
	}
	return publish(ctx, st, d, data, by)
}

func publish(ctx context.Context, st *store.Store, d *runbook.Definition, data []byte, by string) (Published, error) {
	v, created, err := st.PublishRunbook(ctx, d.Name, d.Title, data, by)
	if err != nil {
		return Published{}, err
	}
	return Published{Name: d.Name, Title: d.Title, Version: v, Created: created}, nil
}

// PublishBuiltins publishes the built-in runbooks whose text is not yet
// published. Running it again, from any number of workers at once,
// publishes nothing more.
func PublishBuiltins(ctx context.Context, st *store.Store) error {
	_, err := PublishAllBuiltins(ctx, st)
	return err
}

// PublishAllBuiltins is PublishBuiltins that says what it did. Every
// built-in is validated before any is published.
func PublishAllBuiltins(ctx context.Context, st *store.Store) ([]Published, error) {
	srcs, err := builtin.Builtin()
	if err != nil {
		return nil, fmt.Errorf("built-in runbooks: %w", err)
	}
	defs := make([]*runbook.Definition, len(srcs))
	var errs []error
	for i, s := range srcs {
		defs[i], err = runbook.Parse("builtin/"+s.Name, s.Data, workflows.Kinds)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("built-in runbooks do not validate; nothing was published:\n%w", err)
	}
	var out []Published
	for i, s := range srcs {
		p, err := publish(ctx, st, defs[i], s.Data, BuiltinPublisher)
		if err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}
