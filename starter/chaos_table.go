// What the battery prints at its end: the second response's figures, the
// faults with their recovery times and the invariants with their
// violations.

package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// printLifted prints what the lifted second response (incident steer) had
// made: checkpoints, staff posted at them and supply bookings.
func (r *chaosRun) printLifted(ctx context.Context, steer string) {
	if made, err := r.ms.SealRecords(ctx, steer, 0); err == nil {
		if supply, err := r.ms.SupplyTotals(ctx, steer); err == nil {
			fmt.Fprintf(r.a.out, "Lifted response %s: %d checkpoints, %d staff posted at them, %d supply bookings.\n", steer, made.Checkpoints, made.StaffAssigned, supply.Assigned)
		}
	}
}

// printTable prints the faults and the invariants and returns how many
// faults failed and invariants were violated.
func (r *chaosRun) printTable(cleanWall, faultyWall time.Duration) (bad int) {
	tw := tabwriter.NewWriter(r.a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tCOUNT\tRECOVERY (MEDIAN)\tRECOVERY (MAX)\tRESULT")
	var faultOrder []string
	for name := range r.faults {
		faultOrder = append(faultOrder, name)
	}
	sort.Strings(faultOrder)
	for _, name := range faultOrder {
		f := r.faults[name]
		sort.Slice(f.recovery, func(i, j int) bool { return f.recovery[i] < f.recovery[j] })
		med, most := time.Duration(0), time.Duration(0)
		if len(f.recovery) > 0 {
			med, most = f.recovery[len(f.recovery)/2], f.recovery[len(f.recovery)-1]
		}
		result := "ok"
		if len(f.failed) > 0 {
			bad++
			result = "FAILED: " + f.failed[0]
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", name, f.count, med.Round(time.Millisecond), most.Round(time.Millisecond), result)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "INVARIANT\tCHECKS\tVIOLATIONS\t\t")
	for _, name := range r.order {
		v := r.inv[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t\t%s\n", name, v.checks, len(v.violations), strings.Join(first(v.violations, 3), "; "))
		bad += len(v.violations)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "samples refused (round closed)\t\t%d\t\t\n", r.refused.Load())
	fmt.Fprintf(tw, "clean run, wall time\t\t%s\t\t\n", cleanWall.Round(time.Millisecond))
	fmt.Fprintf(tw, "run under faults, wall time\t\t%s\t\t(%.2f× the clean run)\n", faultyWall.Round(time.Millisecond), faultyWall.Seconds()/cleanWall.Seconds())
	tw.Flush()
	return bad
}

// first is the first n of s, and how many more there are.
func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}
