// Package domain holds the types that travel in workflow inputs, results and
// continue-as-new state, and the domain errors. It imports no database
// driver: the store maps its rows to these types and its driver errors to
// these errors, so a change of table or driver never changes what a workflow
// history holds.
package domain
