package devenv

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver
)

func openPing(ctx context.Context, url string) (*sql.DB, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL: %w", err)
	}
	return db, nil
}

// Reachable reports whether a PostgreSQL URL accepts connections.
func Reachable(ctx context.Context, url string) bool {
	db, err := openPing(ctx, url)
	if err != nil {
		return false
	}
	db.Close()
	return true
}
