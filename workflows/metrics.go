package workflows

import (
	"strconv"

	"go.temporal.io/sdk/workflow"
)

// Names of Muster's own metrics. Workflows emit them through
// workflow.GetMetricsHandler, which stays silent while a history is
// replayed, so nothing is counted twice; a worker exports them with the
// SDK's metrics (see internal/metrics), counters with "_total" added.
const (
	// MetricStepStalled counts stalls of steps, by step: retries ran out, or
	// an error no retry mends left the step to a person.
	MetricStepStalled = "muster_step_stalled"
	// MetricStepOverdue counts runbook steps that passed their deadline,
	// by step kind, and testing rounds found behind schedule.
	MetricStepOverdue = "muster_step_overdue"
	// MetricRoundSampled is how many residents a testing round has sampled
	// so far, by incident, area and round.
	MetricRoundSampled = "muster_round_sampled"
	// MetricRoundExpected is how many residents a testing round expects.
	MetricRoundExpected = "muster_round_expected"
	// MetricRoundBehind is 1 while a testing round's projected finish is
	// after its deadline, 0 otherwise.
	MetricRoundBehind = "muster_round_behind"
	// MetricStaffShortfall is how many places a staff-supply step could not
	// fill, by incident.
	MetricStaffShortfall = "muster_staff_shortfall"
	// MetricStaffUnacknowledged is how many assignments wait for their
	// holder's acknowledgement, by incident.
	MetricStaffUnacknowledged = "muster_staff_unacknowledged"
	// MetricSupplyDays is the days of supply an area has of a commodity, by
	// incident, area and commodity.
	MetricSupplyDays = "muster_supply_days"
	// MetricShipmentsLate is how many restock shipments are past due, by
	// incident.
	MetricShipmentsLate = "muster_shipments_late"
)

// countStall counts a stall of a step.
func countStall(ctx workflow.Context, step string) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"step": step}).Counter(MetricStepStalled).Inc(1)
}

// countOverdue counts a step that passed its deadline.
func countOverdue(ctx workflow.Context, kind string) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": kind}).Counter(MetricStepOverdue).Inc(1)
}

// gaugeRound reports a testing round's coverage.
func gaugeRound(ctx workflow.Context, area, incident string, round, sampled, expected int, behind bool) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		"incident": incident, "area": area, "round": strconv.Itoa(round),
	})
	m.Gauge(MetricRoundSampled).Update(float64(sampled))
	m.Gauge(MetricRoundExpected).Update(float64(expected))
	b := 0.0
	if behind {
		b = 1
	}
	m.Gauge(MetricRoundBehind).Update(b)
}

// gaugeSupply reports a staff-supply step's staffing and stock.
func gaugeSupply(ctx workflow.Context, p SupplyProgress) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"incident": p.Incident})
	m.Gauge(MetricStaffShortfall).Update(float64(p.Staff.Shortfall))
	m.Gauge(MetricStaffUnacknowledged).Update(float64(p.Staff.Pending))
	m.Gauge(MetricShipmentsLate).Update(float64(p.Late))
	for _, l := range p.Levels {
		m.WithTags(map[string]string{"area": l.Area, "commodity": l.Commodity}).Gauge(MetricSupplyDays).Update(l.Days)
	}
}
