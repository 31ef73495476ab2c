// The residents of a testing round without a sample (the missing list,
// with contacts for the authorised call-back list) and the round's roster.

package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/musterhq/muster/internal/domain"
)

// MissingResident is a resident without a sample in a round: no personal
// details.
type MissingResident struct {
	ID        int64  `db:"id"`
	Code      string `db:"code"`
	AreaCode  string `db:"area_code"`
	Building  string `db:"building"`
	Cohort    string `db:"cohort"`
	HomeVisit bool   `db:"home_visit"`
}

// MissingContact is a missing resident with the name and phone to call
// back. Only the authorised call-back list reads it.
type MissingContact struct {
	MissingResident
	Name  string `db:"name"`
	Phone string `db:"phone"`
}

// String keeps the contact details out of logs and errors.
func (m MissingContact) String() string { return "resident " + m.Code }

// DefaultMissingPage is the page size of the missing list when none is
// given; MaxMissingPage the largest.
const (
	DefaultMissingPage = 1000
	MaxMissingPage     = 10000
)

// Missing returns a page of the residents missing from a round, by ID after
// afterID: the list written when it closed, or while it is open, those
// without a sample so far.
func (s *Store) Missing(ctx context.Context, roundID, afterID int64, limit int) ([]MissingResident, error) {
	var out []MissingResident
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		out, err = missingPage(ctx, tx, roundID, afterID, limit)
		return err
	})
	return out, err
}

// MissingContacts is Missing with the names and phones of the residents,
// for an authorised call-back list, read in one transaction. The contacts
// come through the database's audited function muster_read_contacts, which
// logs the reader (the login), each resident, the time and the reason; the
// login must hold the muster_callback role. Nothing else reads personal
// details.
func (s *Store) MissingContacts(ctx context.Context, roundID, afterID int64, limit int, reason string) ([]MissingContact, error) {
	if strings.TrimSpace(reason) == "" {
		return nil, fmt.Errorf("missing contacts of round %d: reason is required: %w", roundID, domain.ErrInvalid)
	}
	var out []MissingContact
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		page, err := missingPage(ctx, tx, roundID, afterID, limit)
		if err != nil {
			return err
		}
		out = make([]MissingContact, len(page))
		ids := make([]int64, len(page))
		for i, m := range page {
			out[i].MissingResident = m
			ids[i] = m.ID
		}
		if len(ids) == 0 {
			return nil
		}
		var contacts []struct {
			ResidentID int64  `db:"resident_id"`
			Name       string `db:"name"`
			Phone      string `db:"phone"`
		}
		if err := tx.SelectContext(ctx, &contacts, `SELECT resident_id, coalesce(name, '') AS name, coalesce(phone, '') AS phone
			FROM muster_read_contacts($1, $2)`, pq.Array(ids), reason); err != nil {
			return err
		}
		byID := make(map[int64]int, len(out))
		for i, m := range out {
			byID[m.ID] = i
		}
		for _, c := range contacts {
			if i, ok := byID[c.ResidentID]; ok {
				out[i].Name, out[i].Phone = c.Name, c.Phone
			}
		}
		return nil
	})
	if isInsufficientPrivilege(err) {
		return nil, fmt.Errorf("missing contacts of round %d: this database user may not read contacts: connect as a login granted the muster_callback role (GRANT muster_callback TO <login>)", roundID)
	}
	if err != nil {
		return nil, fmt.Errorf("missing contacts of round %d: %w", roundID, err)
	}
	return out, nil
}

// missingPage reads a page of the residents missing from a round (see
// Missing).
func missingPage(ctx context.Context, tx *sqlx.Tx, roundID, afterID int64, limit int) ([]MissingResident, error) {
	if limit <= 0 {
		limit = DefaultMissingPage
	}
	limit = min(limit, MaxMissingPage)
	r, err := getRound(ctx, tx, roundID, false)
	if err != nil {
		return nil, err
	}
	const cols = `res.id, res.code, a.code AS area_code, res.building, res.cohort, res.home_visit`
	var out []MissingResident
	if !r.Open() {
		err = tx.SelectContext(ctx, &out, `SELECT `+cols+` FROM round_missing m JOIN residents res ON res.id = m.resident_id
			JOIN areas a ON a.id = res.area_id
			WHERE m.round_id = $1 AND m.resident_id > $2 ORDER BY m.resident_id LIMIT $3`, roundID, afterID, limit)
	} else {
		var areas []int64
		if areas, err = areaIDsUnder(ctx, tx, r.AreaPath); err != nil {
			return nil, err
		}
		err = tx.SelectContext(ctx, &out, `SELECT `+cols+` FROM (
			    SELECT * FROM residents r WHERE r.area_id = ANY($2) AND r.id > $3
			      AND NOT EXISTS (SELECT 1 FROM samples s WHERE s.round_id = $1 AND s.resident_id = r.id)
			    ORDER BY r.id LIMIT $4) res
			JOIN areas a ON a.id = res.area_id ORDER BY res.id`, roundID, pq.Array(areas), afterID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("missing of round %d: %w", roundID, err)
	}
	return out, nil
}

// RosterEntry is a resident of a round and the point that serves them
// (none for a home visit): what a field simulator or a station's
// pre-printed list needs, without personal details.
type RosterEntry struct {
	ID        int64  `db:"id"`
	Code      string `db:"code"`
	Cohort    string `db:"cohort"`
	HomeVisit bool   `db:"home_visit"`
	Point     string `db:"point"`
}

// Roster returns a page of a round's residents by ID after afterID, with
// the point assigned to each.
func (s *Store) Roster(ctx context.Context, roundID, afterID int64, limit int) ([]RosterEntry, error) {
	if limit <= 0 {
		limit = DefaultMissingPage
	}
	limit = min(limit, MaxMissingPage)
	var out []RosterEntry
	err := s.withReadTx(ctx, func(tx *sqlx.Tx) error {
		r, err := getRound(ctx, tx, roundID, false)
		if err != nil {
			return err
		}
		areas, err := areaIDsUnder(ctx, tx, r.AreaPath)
		if err != nil {
			return err
		}
		return tx.SelectContext(ctx, &out, `
			SELECT res.id, res.code, res.cohort, res.home_visit, CASE WHEN res.home_visit THEN '' ELSE coalesce(si.code, '') END AS point
			FROM (SELECT * FROM residents WHERE area_id = ANY($2) AND id > $3 ORDER BY id LIMIT $4) res
			JOIN areas a ON a.id = res.area_id
			LEFT JOIN round_assignments ra ON ra.round_id = $1 AND ra.area_id = res.area_id
			     AND (ra.building = '' OR ra.building = res.building)
			LEFT JOIN sites si ON si.id = ra.site_id
			ORDER BY res.id`, roundID, pq.Array(areas), afterID, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("roster of round %d: %w", roundID, err)
	}
	return out, nil
}
