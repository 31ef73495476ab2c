package domain

import "time"

// PostSummary counts a step's posts and the staff they need.
type PostSummary struct {
	Posts  int            `json:"posts"`
	Needed int            `json:"needed"`
	ByKind map[string]int `json:"by_kind"`
}

// PendingAck is an assignment waiting for its holder's acknowledgement.
type PendingAck struct {
	ID    int64  `db:"id" json:"id"`
	Staff string `db:"staff" json:"staff"`
}

// Mobilization counts a step's staff.
type Mobilization struct {
	Posts        int `db:"posts" json:"posts"`
	Needed       int `db:"needed" json:"needed"`
	Assigned     int `db:"assigned" json:"assigned"`
	Acknowledged int `db:"acknowledged" json:"acknowledged"`
	Pending      int `db:"pending" json:"pending"`
	Lapsed       int `db:"lapsed" json:"lapsed"`
	Reminded     int `db:"reminded" json:"reminded"`
	Shortfall    int `db:"shortfall" json:"shortfall"`
	Passes       int `db:"passes" json:"passes"`
	// New counts the assignments this call made.
	New int `db:"-" json:"new"`
	// PendingAcks lists who still has to acknowledge.
	PendingAcks []PendingAck `db:"-" json:"pending_acks,omitempty"`
}

// Assignment is one person's assignment, as the field sees it.
type Assignment struct {
	ID       int64     `db:"id" json:"id"`
	Incident string    `db:"incident" json:"incident"`
	Step     string    `db:"step" json:"step"`
	Post     string    `db:"post" json:"post"`
	Staff    string    `db:"staff" json:"staff"`
	State    string    `db:"state" json:"state"`
	AckBy    time.Time `db:"ack_by" json:"ack_by"`
	From     time.Time `db:"shift_from" json:"shift_from"`
	To       time.Time `db:"shift_to" json:"shift_to"`
}

// VolunteerDrive takes volunteer sign-ups for an incident's area until the
// quota is reached or it closes.
type VolunteerDrive struct {
	Incident string    `db:"incident" json:"incident"`
	AreaID   int64     `db:"area_id" json:"-"`
	Area     string    `db:"area" json:"area"`
	Step     string    `db:"step" json:"step"`
	Quota    int       `db:"quota" json:"quota"`
	ClosesAt time.Time `db:"closes_at" json:"closes_at"`
	SignedUp int       `db:"signed_up" json:"signed_up"`
}
