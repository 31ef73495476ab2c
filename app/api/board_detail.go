// The steps' details on the board, in the reader's language.

package api

import (
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/text/message"

	"github.com/musterhq/muster/workflows"
)

// stepDetail is a step's detail for the board in a locale. An approval
// awaiting its decision is worded from the catalogue around its question
// in that language. A finished step of a kind whose figures the node keeps
// (seal, testing, sweep, decided approval, notice) is worded from the
// catalogue with those figures; any other detail is the step's own, as it
// wrote it. A stalled, retrying, cancelled or understaffed step has its
// fixed framing worded from the catalogue around the error or figures.
func stepDetail(n *workflows.Node, locale string) string {
	if n.Ask != nil && n.State == workflows.StateAwaitingDecision {
		p := catalogue.Printer(locale)
		return p.Sprintf("board.asking", n.Ask.In(locale), n.Ask.Approver, p.Sprintf("board.decision_"+n.Ask.Default), n.Ask.Timeout)
	}
	if s, ok := stateDetail(n, locale); ok {
		return s
	}
	switch {
	case n.Type == workflows.KindSeal && n.Held:
		if n.Detail == "every gate staffed again" {
			return reword(n.Detail, locale, "detail.staffed_again")
		}
		if f, ok := figures(n.Outputs, "checkpoints", "staff", "roads_closed"); ok {
			return reword(n.Detail, locale, "detail.sealed", f...)
		}
	case n.Type == workflows.KindSeal && n.State == workflows.StateDone:
		return liftedByDetail(n, locale)
	case n.Type == workflows.KindMassTesting && (n.State == workflows.StateDone || n.State == workflows.StateRunning):
		return testingDetail(n, locale)
	case n.Type == workflows.KindLift && n.State == workflows.StateDone:
		if f, ok := figures(n.Outputs, "lifted"); ok {
			return reword(n.Detail, locale, "detail.lifted", f...)
		}
	case n.Type == workflows.KindWait && n.State == workflows.StateDone:
		if d, ok := strings.CutPrefix(n.Detail, "waited "); ok {
			return reword(n.Detail, locale, "detail.waited", d)
		}
	case n.Type == workflows.KindComplianceSweep && n.State == workflows.StateDone:
		checked, ok1 := n.Outputs["checked"]
		failed, ok2 := n.Outputs["failed_checks"]
		if ok1 && ok2 {
			return reword(n.Detail, locale, "detail.sweep", fmt.Sprintf("%.0f", checked-failed), fmt.Sprintf("%.0f", checked))
		}
	case n.Type == workflows.KindInspection:
		return inspectionDetail(n, locale)
	case n.Type == workflows.KindStaffSupply && n.State == workflows.StateDone:
		if m := supplyText.FindStringSubmatch(n.Detail); m != nil {
			return reword(n.Detail, locale, "detail.supply", strings2any(m[1:])...)
		}
	case n.Type == workflows.KindApproval && n.State == workflows.StateDone:
		return decisionDetail(n, locale)
	case n.Type == workflows.KindNotice && n.State == workflows.StateDone:
		if to, ok := strings.CutPrefix(n.Detail, "notice to "); ok {
			return reword(n.Detail, locale, "detail.notice", to)
		}
	}
	return n.Detail
}

// reword renders key with args in English and, when the step's detail
// begins with exactly that text, replaces it with the text in locale and
// keeps whatever the step added after it (a sweep's problems). A detail
// the figures do not reproduce is left as the step wrote it, so the board
// never says something the step did not.
func reword(detail, locale, key string, args ...any) string {
	return rewordWith(detail, locale, func(p *message.Printer) string { return p.Sprintf(key, args...) })
}

// rewordWith is reword for a text made of several messages.
func rewordWith(detail, locale string, render func(p *message.Printer) string) string {
	rest, ok := strings.CutPrefix(detail, render(catalogue.Printer("en")))
	if !ok {
		return detail
	}
	return render(catalogue.Printer(locale)) + rest
}

// figures returns the named outputs as whole numbers in strings: the
// catalogue's printer would group their digits (7,013), and the steps
// write them without.
func figures(outputs map[string]float64, names ...string) ([]any, bool) {
	f := make([]any, len(names))
	for i, name := range names {
		v, ok := outputs[name]
		if !ok {
			return nil, false
		}
		f[i] = fmt.Sprintf("%.0f", v)
	}
	return f, true
}

// testingDetail rewords a closed testing round: its figures are the
// step's outputs; the round's number and, for a round below its minimum,
// the minimum are read from the detail, which the rewording then checks.
func testingDetail(n *workflows.Node, locale string) string {
	f, ok := figures(n.Outputs, "sampled", "expected", "positives", "missing")
	coverage, hasCoverage := n.Outputs["coverage"]
	var round int
	if _, err := fmt.Sscanf(n.Detail, "round %d:", &round); !ok || !hasCoverage || err != nil {
		return n.Detail
	}
	sampled, expected, positives, missing := f[0], f[1], f[2], f[3]
	key, args := "detail.testing", []any{fmt.Sprint(round), sampled, expected, workflows.Percent(coverage), positives, missing}
	if clean, ok := n.Outputs[workflows.OutputClean]; ok && clean == 0 {
		_, after, _ := strings.Cut(n.Detail, "(min ")
		least, _, _ := strings.Cut(after, ")")
		key, args = "detail.testing_not_clean", []any{fmt.Sprint(round), workflows.Percent(coverage), least, sampled, expected, positives, missing}
	}
	late := n.Outputs["late_results"]
	return rewordWith(n.Detail, locale, func(p *message.Printer) string {
		s := p.Sprintf(key, args...)
		if late > 0 {
			s += p.Sprintf("detail.testing_late", fmt.Sprintf("%.0f", late))
		}
		return s
	})
}

// decisionDetail rewords a decided approval, "approved by NAME: REASON":
// the decision and the words around the name and reason come from the
// catalogue; the name and a person's reason stay as they were given.
func decisionDetail(n *workflows.Node, locale string) string {
	approved, ok := n.Outputs["approved"]
	if !ok {
		return n.Detail
	}
	key, word := "detail.rejected", "rejected by "
	if approved == 1 {
		key, word = "detail.approved", "approved by "
	}
	rest, ok := strings.CutPrefix(n.Detail, word)
	if !ok {
		return n.Detail
	}
	by, reason, hasReason := strings.Cut(rest, ": ")
	render := func(p *message.Printer) string {
		who, why := by, reason
		if by == "timeout" {
			who = p.Sprintf("detail.by_timeout")
			if d, ok := strings.CutPrefix(reason, "no decision within "); ok {
				why = p.Sprintf("detail.no_decision", d)
			}
		}
		s := p.Sprintf(key, who)
		if hasReason {
			s = p.Sprintf("detail.reason", s, why)
		}
		return s
	}
	return rewordWith(n.Detail, locale, render)
}

// stateDetail words the fixed framing of a step stalled, retrying,
// cancelled or understaffed, and of a seal retrying after a stall: the
// count of stalls and of open gates come from the node, the error and the
// inner step's name stay as the step wrote them.
func stateDetail(n *workflows.Node, locale string) (string, bool) {
	switch n.State {
	case workflows.StateStalled:
		if strings.HasPrefix(n.Detail, "not retryable, waits for a person: ") {
			return reword(n.Detail, locale, "detail.not_retryable"), true
		}
		return reword(n.Detail, locale, "detail.retries_ran_out", fmt.Sprint(n.Stalls)), true
	case workflows.StateRetrying:
		if rest, ok := strings.CutPrefix(n.Detail, "retrying since "); ok {
			if since, _, ok := strings.Cut(rest, ": "); ok {
				return reword(n.Detail, locale, "detail.retrying_since", since), true
			}
		}
	case workflows.StateRunning:
		if name, ok := strings.CutSuffix(n.Detail, " retrying after stall"); ok {
			return reword(n.Detail, locale, "detail.retrying_after_stall", name), true
		}
	case workflows.StateCancelled:
		for _, d := range []struct{ text, key string }{{"the response was lifted", "detail.cancelled_lifted"}, {"cancelled; gates and roads reopened", "detail.cancelled_reopened"}} {
			if n.Detail == d.text {
				return reword(n.Detail, locale, d.key), true
			}
		}
	case workflows.StateSkipped, workflows.StateAborted:
		// "REASON (by NAME)": the reason and the name stay as given.
		if i := strings.LastIndex(n.Detail, " (by "); i >= 0 && strings.HasSuffix(n.Detail, ")") {
			key := "detail.skipped_by"
			if n.State == workflows.StateAborted {
				key = "detail.aborted_by"
			}
			return reword(n.Detail, locale, key, n.Detail[:i], n.Detail[i+len(" (by "):len(n.Detail)-1]), true
		}
	case workflows.StateUnderstaffed:
		if f, ok := figures(n.Outputs, "open_gates", "checkpoints"); ok {
			return understaffedDetail(n.Detail, locale, f), true
		}
	case workflows.StateAwaitingDecision:
		if m := outsideStaffText.FindStringSubmatch(n.Detail); m != nil {
			return reword(n.Detail, locale, "detail.outside_staff_asked", strings2any(m[1:])...), true
		}
	}
	return "", false
}

// liftedByDetail rewords a lifted seal, "lifted by NAME: REASON": the
// lifter and the reason stay as they were given.
func liftedByDetail(n *workflows.Node, locale string) string {
	rest, ok := strings.CutPrefix(n.Detail, "lifted by ")
	if !ok {
		return n.Detail
	}
	by, reason, hasReason := strings.Cut(rest, ": ")
	return rewordWith(n.Detail, locale, func(p *message.Printer) string {
		s := p.Sprintf("detail.lifted_by", by)
		if hasReason {
			s = p.Sprintf("detail.reason", s, reason)
		}
		return s
	})
}

// supplyText and inspectionText read a supply step's and an inspection's
// figures back from the detail they wrote: some of them (staff needed,
// sites reported) are not among the outputs, and an inspection's running
// reports carry none. The rewording then checks the detail says exactly
// what the catalogue's English says with them.
var (
	supplyText     = regexp.MustCompile(`^(\d+) of (\d+) staff assigned \((\d+) acknowledged, (\d+) reassigned\); (\d+) restock orders, (\d+) delivered, (\d+) late`)
	inspectionText = regexp.MustCompile(`^(?:lifted by (.+?): )?round (\d+): (\d+) of (\d+) sites reported(?: · (\d+) sites unreported by the last close, escalated)? · (\d+) findings: (\d+) rectified, (?:(\d+) withdrawn, )?(\d+) open, (\d+) overdue, (\d+) escalated`)
)

// inspectionDetail rewords an inspection's summary, running or done: the
// parts a round without unreported sites or withdrawn findings leaves out
// are left out in every language, and a lift's framing keeps the lifter.
func inspectionDetail(n *workflows.Node, locale string) string {
	m := inspectionText.FindStringSubmatch(n.Detail)
	if m == nil {
		return n.Detail
	}
	return rewordWith(n.Detail, locale, func(p *message.Printer) string {
		s := p.Sprintf("detail.inspection_round", m[2], m[3], m[4])
		if m[5] != "" {
			s += p.Sprintf("detail.inspection_unreported", m[5])
		}
		s += p.Sprintf("detail.inspection_findings", m[6], m[7])
		if m[8] != "" {
			s += p.Sprintf("detail.inspection_withdrawn", m[8])
		}
		s += p.Sprintf("detail.inspection_tally", m[9], m[10], m[11])
		if m[1] != "" {
			s = p.Sprintf("detail.reason", p.Sprintf("detail.inspection_lifted_by", m[1]), s)
		}
		return s
	})
}

// strings2any passes matched figures as a message's arguments.
func strings2any(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// outsideStaffText is a seal's request for staff from outside the
// district, awaiting the command center's answer.
var outsideStaffText = regexp.MustCompile(`^(\d+) staff from outside the district for (\d+) open gates\? Answer by (\d\d:\d\d), or the seal stays understaffed`)

// understaffedDetail rewords an understaffed seal's open gates and, when
// a request for outside staff was turned down or lapsed, how; the name of
// who rejected it stays as given.
func understaffedDetail(detail, locale string, gates []any) string {
	_, after, _ := strings.Cut(detail, "; outside staff ")
	return rewordWith(detail, locale, func(p *message.Printer) string {
		s := p.Sprintf("detail.understaffed", gates...)
		if after == "no answer by the deadline" {
			s += p.Sprintf("detail.outside_staff_lapsed")
		} else if by, ok := strings.CutPrefix(after, "rejected by "); ok {
			s += p.Sprintf("detail.outside_staff_rejected", by)
		}
		return s
	})
}
