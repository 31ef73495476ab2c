package workflows

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes set on every Muster execution, so supervisors can filter
// in the Web UI: MusterAreaPath = 'xiaodian/beiying' finds everything under
// Beiying, MusterStepState = 'stalled' finds steps waiting for a person.
var (
	SAIncident  = temporal.NewSearchAttributeKeyKeyword("MusterIncident")
	SAAreaPath  = temporal.NewSearchAttributeKeyKeywordList("MusterAreaPath")
	SARunbook   = temporal.NewSearchAttributeKeyKeyword("MusterRunbook")
	SAStep      = temporal.NewSearchAttributeKeyKeyword("MusterStep")
	SAStepState = temporal.NewSearchAttributeKeyKeyword("MusterStepState")
	SALevel     = temporal.NewSearchAttributeKeyInt64("MusterLevel")
)

// SearchAttributes maps each attribute's name to its type, for registering
// them with a Temporal namespace.
var SearchAttributes = map[string]enums.IndexedValueType{
	SAIncident.GetName():  enums.INDEXED_VALUE_TYPE_KEYWORD,
	SAAreaPath.GetName():  enums.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	SARunbook.GetName():   enums.INDEXED_VALUE_TYPE_KEYWORD,
	SAStep.GetName():      enums.INDEXED_VALUE_TYPE_KEYWORD,
	SAStepState.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD,
	SALevel.GetName():     enums.INDEXED_VALUE_TYPE_INT,
}

// Step states, as shown in MusterStepState and the progress query.
const (
	StatePending          = "pending"
	StateRunning          = "running"
	StateRetrying         = "retrying"
	StateStalled          = "stalled"
	StateAwaitingDecision = "awaiting-decision"
	// StateHolding is a seal in place with every checkpoint staffed.
	StateHolding = "holding"
	// StateUnderstaffed is a seal in place with checkpoints short of staff:
	// gates stand open until the shortfall is filled.
	StateUnderstaffed = "understaffed"
	StateDone         = "done"
	StateFailed       = "failed"
)

// StepStates lists every value of MusterStepState, in the order a
// supervisor reads them (README.md, "What to look for in the Web UI").
var StepStates = []string{
	StatePending, StateRunning, StateRetrying, StateStalled, StateAwaitingDecision,
	StateHolding, StateUnderstaffed, StateOverdue, StateDone, StateFailed,
	StateSkipped, StateAborted, StateCancelled,
}
