package workflows

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// noticeMessagesChange gates writing a message key and arguments with the
// seal's notices to residents: runs recorded before it wrote only the
// English text.
const noticeMessagesChange = "seal-notice-messages"

// Message keys of the notices the workflows write: the dispatcher renders
// the body from the catalogue (internal/notify/messages) in each route's
// locale, and sends the English text the workflow wrote where it cannot.
const (
	MsgSealAnnounced   = "seal-announced"
	MsgSealLifted      = "seal-lifted"
	MsgTestingCall     = "testing-call"
	MsgInspectionTalk  = "inspection-talk"
	MsgFindingReminder = "finding-reminder"
	// Escalations of a testing round to the command center: a round closed
	// below its minimum coverage, and a plan that cannot meet its deadline
	// (/more-points when more points would, /rebalance when the points
	// have the capacity but not the right compounds).
	MsgTestingNotClean  = "testing-not-clean"
	MsgTestingPlanShort = "testing-plan-short"
	// MsgSealUnderstaffed escalates a seal whose gates are not all staffed.
	MsgSealUnderstaffed = "seal-understaffed"
	// The response's own notices to the command center: a step stalled,
	// overdue or still not done after an escalation's delay (when the
	// runbook wrote no message), and a change of level.
	MsgStepStalled    = "step-stalled"
	MsgStepOverdue    = "step-overdue"
	MsgStepEscalation = "step-escalation"
	MsgResponseLevel  = "response-level"
	// Escalations of the step kinds to the command center: a testing round
	// extended after an outage or behind (/no-samples when nothing came,
	// /furthest naming the point furthest behind), an inspection round's
	// unreported sites (by what follows), and a supply shortage or a late
	// shipment.
	MsgTestingExtended      = "testing-extended"
	MsgTestingBehind        = "testing-behind"
	MsgInspectionUnreported = "inspection-unreported"
	MsgSupplyShortage       = "supply-shortage"
	MsgSupplyLate           = "supply-late"
	// MsgInspectionAssign tells the inspectors their sites.
	MsgInspectionAssign = "inspection-assign"
)

// testingMessagesChange and inspectionMessagesChange gate the message keys
// of a testing round's calls to residents and an inspection round's talk
// with a unit, as noticeMessagesChange does the seal's.
const (
	testingMessagesChange    = "testing-notice-messages"
	inspectionMessagesChange = "inspection-notice-messages"
	findingMessagesChange    = "finding-notice-messages"
	// escalationMessagesChange gates the message keys of the escalations to
	// the command center: a testing round's and an understaffed seal's.
	escalationMessagesChange = "escalation-notice-messages"
)

// NoticeMessages lists every message key the workflows write; each must be
// in every catalogue.
var NoticeMessages = []string{
	MsgSealAnnounced, MsgSealAnnounced + "/closed", MsgSealAnnounced + "/open", MsgSealAnnounced + "/closed-open",
	MsgSealLifted, MsgTestingCall, MsgInspectionTalk,
	MsgFindingReminder, MsgFindingReminder + "/overdue", MsgFindingReminder + "/reinspect",
	MsgTestingNotClean, MsgTestingPlanShort + "/more-points", MsgTestingPlanShort + "/rebalance",
	MsgSealUnderstaffed, MsgStepStalled, MsgStepStalled + "/not-retryable", MsgStepOverdue, MsgStepEscalation, MsgResponseLevel,
	MsgTestingExtended, MsgTestingBehind, MsgTestingBehind + "/no-samples", MsgTestingBehind + "/furthest",
	MsgInspectionUnreported + "/follow-up", MsgInspectionUnreported + "/next-round", MsgInspectionUnreported + "/by-hand",
	MsgSupplyShortage, MsgSupplyLate, MsgInspectionAssign,
}

// sealAnnouncedMessage is the seal's notice to residents as a message: the
// key names which road clauses it has, so each language words them whole.
func sealAnnouncedMessage(incident string, plan activities.PlanSealResult) (string, map[string]string) {
	var closed, open []string
	for _, r := range plan.Roads {
		if r.Entrance {
			open = append(open, r.Name)
		} else {
			closed = append(closed, r.Name)
		}
	}
	key := MsgSealAnnounced
	args := map[string]string{"compound": plan.Name, "incident": incident, "entrance": entranceName(plan.Gates)}
	switch {
	case len(closed) > 0 && len(open) > 0:
		key += "/closed-open"
	case len(closed) > 0:
		key += "/closed"
	case len(open) > 0:
		key += "/open"
	}
	if len(closed) > 0 {
		args["closed"] = strings.Join(closed, ", ")
	}
	if len(open) > 0 {
		args["open"] = strings.Join(open, ", ")
	}
	return key, args
}

// noticeCountsChange gates the response's reading of its notice counts:
// runs recorded before it never read them.
const noticeCountsChange = "response-notice-counts"

// NoticesStep is the MusterStep a response shows while one of its notices
// is undelivered (MusterStepState is then stalled).
const NoticesStep = "notices"

// The notice counts are read after noticeSettle, so the dispatcher has had
// time to deliver what was just written, and again while notices are
// pending, backing off to noticePollMax while nothing changes. With no
// notice pending the response reads them only after something happened
// (a step report, a notice of its own), or every noticeIdle while one is
// undelivered, since an operator's resend is not seen by the workflow.
// This keeps a quiet response's history from growing.
const (
	noticeSettle  = 30 * time.Second
	noticePollMax = 8 * time.Minute
	noticeIdle    = 15 * time.Minute
)

// watchNotices keeps the progress's notice counts up to date while the
// response runs.
func (r *response) watchNotices(ctx workflow.Context) {
	done := func() bool { return r.lift != nil || r.p.State == ResponseClosed || !r.p.FinishedAt.IsZero() }
	wait := noticeSettle
	for !done() {
		if r.p.Notices[domain.DeliveryPending] == 0 {
			wake := func() bool { return r.noticesDirty || done() }
			if r.p.Notices[domain.DeliveryUndelivered] > 0 {
				if _, err := workflow.AwaitWithTimeout(ctx, noticeIdle, wake); err != nil {
					return
				}
			} else if err := workflow.Await(ctx, wake); err != nil {
				return
			}
			wait = noticeSettle
		}
		if err := workflow.Sleep(ctx, wait); err != nil || done() {
			return
		}
		if err := r.hold(ctx); err != nil {
			return
		}
		r.noticesDirty = false
		var counts map[string]int
		if err := r.activity(ctx, "Count notices", a.CountNotices, r.in.Incident, &counts); err != nil {
			workflow.GetLogger(ctx).Warn("Notice counts", "error", err)
			wait = min(2*wait, noticePollMax)
			continue
		}
		//workflowcheck:ignore comparing two maps gives the same answer in any order
		if maps.Equal(counts, r.p.Notices) {
			wait = min(2*wait, noticePollMax)
			continue
		}
		wait = noticeSettle
		r.p.Notices = counts
		r.changed(ctx)
	}
}

// noticesLine is the current details' line of notice counts, such as
// "Notices: 52 delivered · 1 undelivered", or empty when there are none.
func noticesLine(counts map[string]int) string {
	var parts []string
	for _, s := range domain.DeliveryStates {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Notices: " + strings.Join(parts, " · ")
}
