package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressBar is a progress bar on the error stream. It is nil, and every method a
// no-op, when the error stream is not a terminal or the output is JSON: a
// bar's redraws would only spoil a log file or a pipe read by a program.
type progressBar struct{ pb *progressbar.ProgressBar }

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newBar returns a bar of max units described by desc, or a spinner when
// max is -1 (the work's size is not known), or nil when it must stay quiet.
func (a *app) newBar(max int64, desc string) *progressBar {
	if a.output == "json" || !isTerminal(a.errOut) {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(a.errOut),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	}
	if max >= 0 {
		opts = append(opts, progressbar.OptionShowCount())
	}
	pb := progressbar.NewOptions64(max, opts...)
	if max < 0 {
		// A spinner turns on its own once started, while the work it
		// stands for (one statement, one upload) gives no steps.
		pb.StartWithoutRender()
	}
	return &progressBar{pb}
}

// Add moves the bar on by n units.
func (b *progressBar) Add(n int) {
	if b != nil {
		b.pb.Add(n)
	}
}

// Set moves the bar to n units.
func (b *progressBar) Set(n int) {
	if b != nil {
		b.pb.Set(n)
	}
}

// Clear takes the bar off the line so that a message can be printed; the
// next Add draws it again.
func (b *progressBar) Clear() {
	if b != nil {
		b.pb.Clear()
	}
}

// Progress sets the bar to done of total units; the total may grow, as a
// response's steps do when areas are added.
func (b *progressBar) Progress(done, total int) {
	if b != nil {
		b.pb.ChangeMax(total)
		b.pb.Set(done)
	}
}

// Finish ends the bar and clears its line.
func (b *progressBar) Finish() {
	if b != nil {
		b.pb.Finish()
	}
}
