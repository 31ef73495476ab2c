package workflows

// The window on a for_each's child starts: a city round starts its
// communities' steps a window at a time rather than all at once. Each area
// started runs in a coroutine of its own, and the SDK's dispatcher visits
// every coroutine on every workflow task; starting a thousand children at
// once left a thousand coroutines waiting for their start to be recorded,
// and the response's cost grew with the square of the areas. Areas beyond
// the window wait in a queue, with no coroutine, until an area's first
// child start is recorded (or the area ends without one).

import "go.temporal.io/sdk/workflow"

// startWindowChange gates the window: runs recorded before it started
// every area at once.
const startWindowChange = "response-start-window"

// startWindow is how many areas of a for_each may be on their way to their
// first child start at once.
const startWindow = 64

// startsPending, when set (by tests), is told how many child starts of
// the response are pending each time one is asked for.
var startsPending func(n int)

// launchKey is the context key of an area's launch.
type launchKey struct{}

// launch is an area of a for_each on its way to its first child start. An
// area of a for_each inside another's area is on its way for both.
type launch struct {
	f      *forEachRun
	parent *launch
	ended  bool
}

// end frees the area's place in the window, and lets the next area in.
func (l *launch) end() {
	if l.ended {
		return
	}
	l.ended = true
	l.f.launching--
	l.f.fill()
}

// childStarted tells the areas whose context this is that their child's
// start is recorded (or failed).
func childStarted(ctx workflow.Context) {
	l, _ := ctx.Value(launchKey{}).(*launch)
	for ; l != nil; l = l.parent {
		l.end()
	}
}

// enqueue runs an area's body now, or queues it for the window. An area
// that has ended or started a step already (in an earlier run of the
// response) runs now: it starts nothing new first, and its deadlines are
// watched from the start.
func (f *forEachRun) enqueue(ctx workflow.Context, item *Node, run func(workflow.Context)) {
	if !f.windowed || begun(item) {
		workflow.Go(ctx, run)
		return
	}
	f.queue = append(f.queue, run)
}

// fill starts queued areas while the window has room.
func (f *forEachRun) fill() {
	for len(f.queue) > 0 && f.launching < startWindow && f.ctx.Err() == nil {
		run := f.queue[0]
		f.queue[0] = nil
		f.queue = f.queue[1:]
		f.launching++
		l := &launch{f: f}
		l.parent, _ = f.ctx.Value(launchKey{}).(*launch)
		workflow.Go(workflow.WithValue(f.ctx, launchKey{}, l), func(ctx workflow.Context) {
			defer l.end()
			run(ctx)
		})
	}
}

// begun reports whether a for_each's area has ended or started a step's
// workflow.
func begun(n *Node) bool {
	if terminal(n.State) || n.WorkflowID != "" {
		return true
	}
	for _, c := range n.Children {
		if begun(c) {
			return true
		}
	}
	return false
}
