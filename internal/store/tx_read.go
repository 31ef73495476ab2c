package store

import (
	"context"
	"database/sql"

	"github.com/jmoiron/sqlx"
)

// withReadTx runs fn in a read-only transaction that sees one snapshot.
func (s *Store) withReadTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
