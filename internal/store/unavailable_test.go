package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

func TestUnavailable(t *testing.T) {
	// A real refused connection: a port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s, err := Connect("postgres://postgres@" + addr + "/muster?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	refused := s.DB().PingContext(context.Background())
	if refused == nil {
		t.Fatalf("ping %s succeeded; want a refused connection", addr)
	}
	_, opened := Open(context.Background(), "postgres://postgres@"+addr+"/muster?sslmode=disable")

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", refused, true},
		{"refused through Open", opened, true},
		{"wrapped refused", fmt.Errorf("ingest batch: %w", refused), true},
		{"shutting down", &pq.Error{Code: "57P01"}, true},
		{"starting up", &pq.Error{Code: "57P03"}, true},
		{"too many connections", &pq.Error{Code: "53300"}, true},
		{"serialization failure", &pq.Error{Code: "40001"}, true},
		{"statement cancelled", &pq.Error{Code: "57014"}, false},
		{"unique violation", &pq.Error{Code: "23505"}, false},
		{"undefined table", &pq.Error{Code: "42P01"}, false},
		{"no database", &pq.Error{Code: "3D000"}, false},
		{"not found", domain.ErrNotFound, false},
		{"cancelled", context.Canceled, false},
		{"nil", nil, false},
		{"plain", errors.New("no open testing round covers resident"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Unavailable(tt.err); got != tt.want {
				t.Errorf("Unavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
