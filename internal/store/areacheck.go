package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"
	"github.com/musterhq/muster/internal/domain"
)

// KnownAreas returns which of the codes or paths name an area of district
// (any district when it is empty), and whether any scenario is loaded at
// all.
func (s *Store) KnownAreas(ctx context.Context, district string, codes []string) (known map[string]bool, loaded bool, err error) {
	if err := s.db.GetContext(ctx, &loaded, `SELECT EXISTS (SELECT 1 FROM areas)`); err != nil {
		return nil, false, fmt.Errorf("areas loaded: %w", err)
	}
	var found []string
	if err := s.db.SelectContext(ctx, &found, `SELECT c FROM unnest($1::text[]) AS c
		WHERE EXISTS (SELECT 1 FROM areas WHERE (code = c OR path = c) AND ($2 = '' OR district = $2))`, pq.Array(codes), DistrictOf(district)); err != nil {
		return nil, false, fmt.Errorf("known areas: %w", err)
	}
	known = make(map[string]bool, len(found))
	for _, c := range found {
		known[c] = true
	}
	return known, loaded, nil
}

// KnownPlaces returns which of the codes name a site of siteKind or, when
// siteKind is empty, a site or an area of any kind; in district only when
// it is not empty.
func (s *Store) KnownPlaces(ctx context.Context, district string, codes []string, siteKind string) ([]string, error) {
	var known []string
	err := s.db.SelectContext(ctx, &known, `SELECT code FROM sites WHERE code = ANY($1) AND ($2 = '' OR kind = $2) AND ($3 = '' OR district = $3)
		UNION SELECT code FROM areas WHERE $2 = '' AND code = ANY($1) AND ($3 = '' OR district = $3)`, pq.Array(codes), siteKind, district)
	if err != nil {
		return nil, fmt.Errorf("known places: %w", err)
	}
	return known, nil
}

// IncidentDistrict returns the district of an incident's response: the
// top of its area's path.
func (s *Store) IncidentDistrict(ctx context.Context, incident string) (string, error) {
	var d string
	err := s.db.GetContext(ctx, &d, `SELECT split_part(area_path, '/', 1) FROM responses WHERE incident = $1`, incident)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("incident %q: %w", incident, domain.ErrResponseNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("district of incident %s: %w", incident, err)
	}
	return d, nil
}

// TopAreas returns the codes of the areas at the top of the tree, in order.
func (s *Store) TopAreas(ctx context.Context) ([]string, error) {
	var top []string
	if err := s.db.SelectContext(ctx, &top, `SELECT code FROM areas WHERE parent_id IS NULL ORDER BY code`); err != nil {
		return nil, fmt.Errorf("top-level areas: %w", err)
	}
	return top, nil
}
