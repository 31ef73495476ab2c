package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// Area is a node of the area tree.
type Area struct {
	ID          int64          `db:"id"`
	Code        string         `db:"code"`
	Path        string         `db:"path"`
	ParentID    sql.NullInt64  `db:"parent_id"`
	Level       string         `db:"level"`
	Name        string         `db:"name"`
	Population  int            `db:"population"`
	Buildings   int            `db:"buildings"`
	PublicAreas pq.StringArray `db:"public_areas"`
	Scenario    string         `db:"scenario"`
}

// AreaByCode returns the area with the given code or path.
func (s *Store) AreaByCode(ctx context.Context, codeOrPath string) (Area, error) {
	var a Area
	err := s.db.GetContext(ctx, &a, `SELECT id, code, path, parent_id, level, name, population, buildings, public_areas, scenario
		FROM areas WHERE code = $1 OR path = $1`, codeOrPath)
	if errors.Is(err, sql.ErrNoRows) {
		return Area{}, fmt.Errorf("area %q: %w", codeOrPath, domain.ErrAreaNotFound)
	}
	if err != nil {
		return Area{}, fmt.Errorf("area %q: %w", codeOrPath, err)
	}
	return a, nil
}

// Descendants returns the areas at the given level under the area with the
// given code or path (the area itself when it has that level), ordered by path.
func (s *Store) Descendants(ctx context.Context, codeOrPath, level string) ([]Area, error) {
	root, err := s.AreaByCode(ctx, codeOrPath)
	if err != nil {
		return nil, err
	}
	var out []Area
	err = s.db.SelectContext(ctx, &out, `SELECT id, code, path, parent_id, level, name, population, buildings, public_areas, scenario
		FROM areas WHERE level = $2 AND (path = $1 OR path LIKE $1 || '/%') ORDER BY path`, root.Path, level)
	if err != nil {
		return nil, fmt.Errorf("areas under %s: %w", root.Path, err)
	}
	return out, nil
}
