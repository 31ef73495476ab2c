package workflows

// The step core: what every step kind (seal, mass-testing, staff-supply,
// inspection-follow-up, finding, compliance-sweep, notice, approval) and the
// Response share besides the step runner (runner.go).
//
//   - Signals are received in the workflow's main loop. An inbox holds the
//     signal channels a workflow listens to; inbox.await blocks until a
//     condition holds and applies every signal as it arrives, and
//     inbox.drain takes whatever is waiting, so no signal depends on a side
//     goroutine getting a turn.
//   - continueAsNewWhenQuiet is the one way a long workflow continues as
//     new: it waits for every update handler to finish and for the
//     workflow's own activities to end, drains every channel, and only then
//     builds the next run's input, so whatever arrived with the deciding
//     workflow task travels into the next run instead of being lost. The
//     input's size is checked against carryBudget first. A continue-as-new
//     is never reported to a response as failed or final.
//   - limitText bounds the free text operators send (reasons, names, notes)
//     in update validators, and short keeps progress text short: the full
//     text lives in the event log in PostgreSQL.

import (
	"fmt"
	"unicode/utf8"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// inbox receives a workflow's signals in its main loop.
type inbox struct {
	chans  []workflow.ReceiveChannel
	drains []func() bool
}

// receive makes the inbox take signals of one name and apply them.
func receive[T any](ctx workflow.Context, b *inbox, signal string, apply func(T)) {
	ch := workflow.GetSignalChannel(ctx, signal)
	b.chans = append(b.chans, ch)
	b.drains = append(b.drains, func() bool {
		took := false
		for {
			var v T
			if !ch.ReceiveAsync(&v) {
				return took
			}
			apply(v)
			took = true
		}
	})
}

// drain applies every signal waiting in the inbox and reports whether
// there was one.
func (b *inbox) drain() bool {
	took := false
	for _, d := range b.drains {
		if d() {
			took = true
		}
	}
	return took
}

// pending reports whether a signal waits in the inbox.
func (b *inbox) pending() bool {
	for _, ch := range b.chans {
		if ch.Len() > 0 {
			return true
		}
	}
	return false
}

// await blocks until cond holds, applying signals as they arrive; signals
// waiting when cond first holds are applied before await returns.
func (b *inbox) await(ctx workflow.Context, cond func() bool) error {
	for {
		b.drain()
		if cond() {
			return nil
		}
		if err := workflow.Await(ctx, func() bool { return b.pending() || cond() }); err != nil {
			return err
		}
	}
}

// carryBudget bounds the input a workflow carries into its next run, far
// below the server's limit on a continue-as-new's input (2 MiB by default):
// what grows with time (areas, rounds, steps) has room, and free text, kept
// short in progress, cannot crowd it out.
const carryBudget = 256 << 10

// canPlan says how a workflow continues as new.
type canPlan struct {
	// name is the workflow type of the next run.
	name string
	// inbox is drained before the next input is built; nil when the
	// workflow receives no signals.
	inbox *inbox
	// busy reports work of the run itself that must end first (activities
	// whose results the next run needs).
	busy func() bool
	// stop, after the drain, reports something that ends the wish to
	// continue as new (a lift to carry out at once); the helper then returns
	// nil and the caller goes on.
	stop func() bool
	// next builds the next run's input from the state after the drain.
	next func() any
	// shrink, when the input passes carryBudget, shortens what the state
	// carries (free text) before it is measured again.
	shrink func()
}

// continueAsNewWhenQuiet continues as new at a quiet moment: no update
// being handled, no activity of the run in flight, no signal waiting. It
// returns the ContinueAsNewError to return from the workflow, or nil when
// stop says the run goes on.
func continueAsNewWhenQuiet(ctx workflow.Context, p canPlan) error {
	quiet := func() bool { return workflow.AllHandlersFinished(ctx) && (p.busy == nil || !p.busy()) }
	for {
		if err := workflow.Await(ctx, quiet); err != nil {
			return err
		}
		// Receivers that run as goroutines get a turn, so what they were
		// handed is applied before the state is taken.
		turned := false
		workflow.Go(ctx, func(workflow.Context) { turned = true })
		if err := workflow.Await(ctx, func() bool { return turned }); err != nil {
			return err
		}
		took := p.inbox != nil && p.inbox.drain()
		if p.stop != nil && p.stop() {
			return nil
		}
		if !took && quiet() {
			break
		}
	}
	return workflow.NewContinueAsNewError(ctx, p.name, carry(ctx, p.next, p.shrink))
}

// carry builds the next run's input and checks its size against
// carryBudget, shrinking the state once when it is over.
func carry(ctx workflow.Context, next func() any, shrink func()) any {
	in := next()
	size := encodedSize(in)
	if size > carryBudget && shrink != nil {
		shrink()
		in = next()
		size = encodedSize(in)
	}
	if size > carryBudget {
		// Still far below the server's limit: the run goes on, and the log
		// says what to look at.
		workflow.GetLogger(ctx).Warn("State carried into the next run is over budget", "bytes", size, "budget", carryBudget)
	}
	return in
}

// encodedSize is the size of v as the SDK encodes a workflow input.
func encodedSize(v any) int {
	pl, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		return 0
	}
	return len(pl.GetData())
}

// MaxText is the most bytes of free text (a reason, a name, a note, a
// description, a question) an operator's update may carry.
const MaxText = 2048

// limitText checks free-text fields of an update: at most MaxText bytes of
// valid UTF-8 each. fields alternates names and values.
func limitText(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		name, v := fields[i], fields[i+1]
		if len(v) > MaxText {
			return fmt.Errorf("%s: %d bytes, at most %d allowed", name, len(v), MaxText)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("%s: not valid UTF-8 text", name)
		}
	}
	return nil
}

// shortLen is how much free text progress keeps of a detail or reason.
const shortLen = 240

// short returns s cut to shortLen bytes at a rune boundary, marked with an
// ellipsis when cut.
func short(s string) string { return cut(s, shortLen) }

// cut returns s cut to n bytes at a rune boundary, marked with an ellipsis
// when cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
