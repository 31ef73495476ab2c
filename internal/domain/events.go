package domain

import (
	"strings"
	"time"
)

// Event is one step transition for the event log.
type Event struct {
	Incident   string    `db:"incident" json:"incident"`
	WorkflowID string    `db:"workflow_id" json:"workflow_id"`
	Step       string    `db:"step" json:"step"`
	State      string    `db:"state" json:"state"`
	Reason     string    `db:"reason" json:"reason"`
	Actor      string    `db:"actor" json:"actor"`
	At         time.Time `db:"at" json:"at"`
	// Seq tells apart repeated transitions of one step, such as the rounds
	// of a periodic check. It is part of the dedup key, not stored alone.
	Seq string `db:"-" json:"seq,omitempty"`
}

// PathPrefixes returns the area's path and every ancestor's path, top first:
// "xiaodian", "xiaodian/beiying", … . A keyword-list search attribute holding
// them lets a supervisor filter everything under any area.
func PathPrefixes(path string) []string {
	parts := strings.Split(path, "/")
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = strings.Join(parts[:i+1], "/")
	}
	return out
}
