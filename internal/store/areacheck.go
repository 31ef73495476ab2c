package store

import (
	"context"
	"fmt"

	"github.com/lib/pq"
)

// KnownAreas returns which of the codes or paths name an area, and whether
// any scenario is loaded at all.
func (s *Store) KnownAreas(ctx context.Context, codes []string) (known map[string]bool, loaded bool, err error) {
	if err := s.db.GetContext(ctx, &loaded, `SELECT EXISTS (SELECT 1 FROM areas)`); err != nil {
		return nil, false, fmt.Errorf("areas loaded: %w", err)
	}
	var found []string
	if err := s.db.SelectContext(ctx, &found, `SELECT c FROM unnest($1::text[]) AS c
		WHERE EXISTS (SELECT 1 FROM areas WHERE code = c OR path = c)`, pq.Array(codes)); err != nil {
		return nil, false, fmt.Errorf("known areas: %w", err)
	}
	known = make(map[string]bool, len(found))
	for _, c := range found {
		known[c] = true
	}
	return known, loaded, nil
}
