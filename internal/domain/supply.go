package domain

import "time"

// SupplyLevel is one area's supply of one commodity.
type SupplyLevel struct {
	Area       string  `db:"area" json:"area"`
	AreaID     int64   `db:"area_id" json:"-"`
	Population int     `db:"population" json:"population"`
	Commodity  string  `db:"commodity" json:"commodity"`
	Stock      float64 `db:"stock" json:"stock_tonnes"`
	NeedPerDay float64 `db:"-" json:"need_tonnes_per_day"`
	Days       float64 `db:"-" json:"days"`
	// Low says the days of supply are below the threshold.
	Low bool `db:"-" json:"low"`
	// Order is the open restock order, if any.
	Order *Shipment `db:"-" json:"order,omitempty"`
}

// Shipment is a restock order and its delivery.
type Shipment struct {
	ID          int64      `db:"id" json:"id"`
	Incident    string     `db:"incident" json:"incident"`
	Step        string     `db:"step" json:"step"`
	Area        string     `db:"area" json:"area"`
	Site        string     `db:"site" json:"site"`
	Commodity   string     `db:"commodity" json:"commodity"`
	Tonnes      float64    `db:"tonnes" json:"tonnes"`
	State       string     `db:"state" json:"state"`
	OrderedAt   time.Time  `db:"ordered_at" json:"ordered_at"`
	DueAt       time.Time  `db:"due_at" json:"due_at"`
	DeliveredAt *time.Time `db:"delivered_at" json:"delivered_at,omitempty"`
	Delivered   *float64   `db:"delivered_tonnes" json:"delivered_tonnes,omitempty"`
}

// SupplyStatus is the outcome of a supply check.
type SupplyStatus struct {
	Levels []SupplyLevel `json:"levels"`
	// Ordered counts restock orders this check placed.
	Ordered int `json:"ordered"`
	// Late lists open shipments past their due time.
	Late      []Shipment `json:"late,omitempty"`
	Delivered int        `json:"delivered"`
	Orders    int        `json:"orders"`
}
