package service

import (
	"context"
	"errors"
	"log/slog"

	"github.com/musterhq/muster/internal/notify"
)

// startDispatcher checks the routes file and runs the notice dispatcher
// beside the worker until ctx ends; a routes file that does not parse stops
// the worker at start, naming the field.
func startDispatcher(ctx context.Context, d *notify.Dispatcher, logger *slog.Logger) error {
	if _, err := notify.LoadRoutes(d.RoutesFile); err != nil {
		return err
	}
	go func() {
		if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("Notice dispatcher stopped", "error", err)
		}
	}()
	return nil
}
