package workflows

// An inspection's rounds: opening one over the area's sites, closing it,
// escalating the sites left unreported and telling each unit once about a
// problem found at several of its sites.

import (
	"fmt"
	"sort"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/musterhq/muster/activities"
	"github.com/musterhq/muster/internal/domain"
)

// openRound opens a round over the area's sites or, with only, a follow-up
// round over those sites of the previous one.
func (insp *inspection) openRound(ctx workflow.Context, number int, only []string) error {
	var plan domain.InspectionPlan
	title := fmt.Sprintf("Open inspection round %d", number)
	if len(only) > 0 {
		title = fmt.Sprintf("Open follow-up inspection round %d of %d unreported sites", number, len(only))
	}
	if err := insp.sw.r.run(ctx, fmt.Sprintf("round/%d", number), title, a.OpenInspectionRound,
		activities.OpenInspectionRoundInput{
			Ref: insp.sw.ref("discipline-office"), Step: insp.in.Path, Round: number, Area: insp.in.Area.Path,
			SiteKinds: insp.cfg.siteKinds, Departments: insp.cfg.departments, Inspectors: insp.cfg.inspectors, Only: only,
		}, &plan, func() string {
			return fmt.Sprintf("%d sites, %d inspectors", len(plan.Sites), len(insp.cfg.inspectors))
		}); err != nil {
		return err
	}
	insp.plan = plan
	insp.p.Round, insp.p.RoundID, insp.p.RoundState = number, plan.RoundID, "open"
	insp.p.RoundDeadline = workflow.Now(ctx).Add(scaled(insp.cfg.roundFor, insp.in.TimeScale))
	insp.sites = map[string]*SiteStatus{}
	insp.p.Sites, insp.p.Reported = nil, 0
	for _, s := range plan.Sites {
		insp.p.Sites = append(insp.p.Sites, SiteStatus{Site: s.Site, SubDistrict: s.SubDistrict, Kind: s.Kind, Inspector: s.Inspector, Reported: s.Reported})
	}
	for i := range insp.p.Sites {
		insp.sites[insp.p.Sites[i].Site] = &insp.p.Sites[i]
		if insp.p.Sites[i].Reported {
			insp.p.Reported++
		}
	}
	insp.units = insp.units[:0]
	for _, u := range plan.Units {
		insp.units = append(insp.units, u.Code)
	}
	// Inspectors hear which sites are theirs, once per round.
	per := map[string][]string{}
	for _, s := range plan.Sites {
		per[s.Inspector] = append(per[s.Inspector], s.Site)
	}
	var lines []string
	for _, who := range sortedKeys(per) {
		lines = append(lines, fmt.Sprintf("%s: %s", who, strings.Join(per[who], ", ")))
	}
	body := fmt.Sprintf("Inspection round %d of %s (incident %s): %d sites. Report each site with `muster inspection report-site %s SITE --inspector YOU [--finding ...]`. Assignments — %s.",
		number, insp.in.Area.Name, insp.in.Incident, len(plan.Sites), insp.in.Incident, strings.Join(lines, "; "))
	if err := insp.sw.r.run(ctx, fmt.Sprintf("assign/%d", number), "Tell inspectors their sites", a.PublishNotice, activities.NoticeInput{
		Ref: insp.sw.ref("discipline-office"), Step: insp.in.Path + "/assign", AreaID: insp.in.Area.ID,
		Kind: fmt.Sprintf("inspection/%s/%d/assign", insp.in.Path, number), Audience: "inspectors of the discipline office", Body: body,
		Message: MsgInspectionAssign, Args: map[string]string{"round": fmt.Sprint(number), "area": insp.in.Area.Name, "incident": insp.in.Incident, "sites": fmt.Sprint(len(plan.Sites)), "assignments": strings.Join(lines, "; ")},
	}, nil, func() string { return fmt.Sprintf("%d inspectors told", len(per)) }); err != nil {
		return err
	}
	insp.tally(ctx)
	return nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	//workflowcheck:ignore the keys are sorted below
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// closeRound closes the open round, tells units about shared problems and
// escalates the sites left unreported.
func (insp *inspection) closeRound(ctx workflow.Context) error {
	if err := insp.sw.r.run(ctx, fmt.Sprintf("close/%d", insp.p.Round), fmt.Sprintf("Close inspection round %d", insp.p.Round), a.CloseInspectionRound,
		activities.CloseInspectionRoundInput{Ref: insp.sw.ref("discipline-office"), RoundID: insp.p.RoundID, Round: insp.p.Round, Reported: insp.p.Reported, Sites: len(insp.sites)},
		nil, func() string { return fmt.Sprintf("%d of %d sites reported", insp.p.Reported, len(insp.sites)) }); err != nil {
		return err
	}
	insp.p.RoundState = "closed"
	insp.groupNotice(ctx)
	insp.tally(ctx)
	// Runs that closed rounds before unreported sites were escalated let
	// them go silently; they keep doing so.
	if workflow.GetVersion(ctx, "inspection-unreported-escalation", workflow.DefaultVersion, 1) >= 1 {
		return insp.escalateUnreported(ctx)
	}
	return nil
}

// escalateUnreported tells the command center which sites the round closed
// without, and who had them, and marks the step overdue. The sites go to
// another inspector: in the next scheduled round or, for a step of one
// round, in one follow-up round of those sites alone.
func (insp *inspection) escalateUnreported(ctx workflow.Context) error {
	was := len(insp.p.Unreported) > 0
	insp.p.Unreported = nil
	var lines []string
	for _, s := range insp.p.Sites {
		if !s.Reported {
			insp.p.Unreported = append(insp.p.Unreported, s.Site)
			lines = append(lines, fmt.Sprintf("%s (%s)", s.Site, s.Inspector))
		}
	}
	insp.tally(ctx)
	if len(insp.p.Unreported) == 0 {
		if was && !insp.ready {
			reportToParent(ctx, StepReport{Path: insp.in.Path, State: StateRunning, Detail: insp.summary()})
		}
		return nil
	}
	followUp := insp.cfg.every <= 0 && insp.p.Round == 1
	next, key := "They go to another inspector in the next round.", MsgInspectionUnreported+"/next-round"
	switch {
	case followUp:
		key = MsgInspectionUnreported + "/follow-up"
		next = fmt.Sprintf("A follow-up round %d of these sites alone opens now, each with another inspector, for %s.", insp.p.Round+1, insp.cfg.roundFor)
	case insp.cfg.every <= 0:
		next, key = "No further round follows: send an inspector to each by hand.", MsgInspectionUnreported+"/by-hand"
	}
	body := fmt.Sprintf("Inspection round %d of %s (incident %s) closed with %d of %d sites unreported: %s. %s",
		insp.p.Round, insp.in.Area.Name, insp.in.Incident, len(insp.p.Unreported), len(insp.p.Sites), strings.Join(lines, ", "), next)
	if err := insp.sw.r.run(ctx, fmt.Sprintf("unreported/%d", insp.p.Round), "Escalate the unreported sites", a.PublishNotice, activities.NoticeInput{
		Ref: insp.sw.ref("discipline-office"), Step: insp.in.Path + "/unreported", AreaID: insp.in.Area.ID,
		Kind: fmt.Sprintf("inspection/%s/%d/unreported", insp.in.Path, insp.p.Round), Audience: "command center", Body: body,
		Message: key, Args: map[string]string{"round": fmt.Sprint(insp.p.Round), "area": insp.in.Area.Name, "incident": insp.in.Incident, "unreported": fmt.Sprint(len(insp.p.Unreported)), "sites": fmt.Sprint(len(insp.p.Sites)), "list": strings.Join(lines, ", "), "next": fmt.Sprint(insp.p.Round + 1), "for": insp.cfg.roundFor.String()},
	}, nil, func() string { return fmt.Sprintf("%d sites unreported", len(insp.p.Unreported)) }); err != nil {
		return err
	}
	if !insp.ready {
		reportToParent(ctx, StepReport{Path: insp.in.Path, State: StateOverdue, Detail: insp.summary()})
	}
	if followUp {
		return insp.openRound(ctx, insp.p.Round+1, insp.p.Unreported)
	}
	return nil
}

// groupNotice tells each unit once about a problem found at several of its
// sites, so the office takes it up with the department as a whole.
func (insp *inspection) groupNotice(ctx workflow.Context) {
	type key struct{ unit, category string }
	sites := map[key][]string{}
	for _, id := range insp.findingIDs() {
		f := insp.findings[id]
		k := key{f.Unit, f.Category}
		if !contains(sites[k], f.Site) {
			sites[k] = append(sites[k], f.Site)
		}
	}
	var keys []key
	//workflowcheck:ignore the keys are sorted below
	for k, v := range sites {
		if len(v) > 1 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].unit != keys[j].unit {
			return keys[i].unit < keys[j].unit
		}
		return keys[i].category < keys[j].category
	})
	messages := len(keys) > 0 && workflow.GetVersion(ctx, inspectionMessagesChange, workflow.DefaultVersion, 1) >= 1
	for _, k := range keys {
		body := fmt.Sprintf("Inspection round %d (incident %s) found the same problem, %s, at %d of your sites: %s. The discipline office takes it up with your unit as a whole; each finding is still followed to its rectification.",
			insp.p.Round, insp.in.Incident, k.category, len(sites[k]), strings.Join(sites[k], ", "))
		talk := activities.NoticeInput{
			Ref: insp.sw.ref("discipline-office"), Step: insp.in.Path + "/group", AreaID: insp.in.Area.ID,
			Kind: fmt.Sprintf("inspection/%s/%d/group/%s/%s", insp.in.Path, insp.p.Round, k.unit, k.category), Audience: k.unit, Body: body,
		}
		if messages {
			talk.Message, talk.Args = MsgInspectionTalk, map[string]string{"round": fmt.Sprint(insp.p.Round), "incident": insp.in.Incident,
				"category": k.category, "count": fmt.Sprint(len(sites[k])), "sites": strings.Join(sites[k], ", ")}
		}
		_ = insp.sw.r.run(ctx, "group/"+k.unit+"/"+k.category, "Address "+k.unit+" once about "+k.category, a.PublishNotice, talk,
			nil, func() string { return fmt.Sprintf("%d sites", len(sites[k])) })
	}
}

// contains says list holds v.
func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
