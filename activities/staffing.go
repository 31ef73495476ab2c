package activities

import (
	"context"
	"fmt"
)

// RelieveInput asks to relieve the checkpoint staff of a seal whose shift
// ended: everyone booked for a shift before Shift goes off duty.
type RelieveInput struct {
	Ref    StepRef
	AreaID int64
	Shift  int
}

// RelieveResult counts the staff relieved.
type RelieveResult struct {
	Relieved int
}

// RelieveShift ends the shift before in.Shift at the seal's checkpoints.
func (a *Activities) RelieveShift(ctx context.Context, in RelieveInput) (RelieveResult, error) {
	if err := in.Ref.validate(); err != nil {
		return RelieveResult{}, classify(err)
	}
	if in.AreaID <= 0 {
		return RelieveResult{}, badInput("relieving a shift needs the area ID from the seal plan (got %d)", in.AreaID)
	}
	if in.Shift < 2 {
		return RelieveResult{}, badInput("shift must be 2 or more: the first shift relieves nobody (got %d)", in.Shift)
	}
	e := in.Ref.event("shift", "done", fmt.Sprintf("shift %d ends; shift %d takes over", in.Shift-1, in.Shift))
	e.Seq = fmt.Sprint(in.Shift)
	n, err := a.Store.RelieveShift(ctx, in.Ref.Incident, in.AreaID, in.Shift, e)
	return RelieveResult{Relieved: n}, classify(err)
}
