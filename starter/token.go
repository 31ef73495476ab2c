package main

// `muster token`: the credentials of the HTTP API's clients.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/musterhq/muster/app/api"
	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/store"
)

// reservedNames are actors the API's clients may not take: the built-in
// runbooks' publisher and the worker.
var reservedNames = []string{service.BuiltinPublisher, "muster", "worker"}

// defaultOperator is who runs a token command unless --by says.
func defaultOperator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "operator"
}

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke the HTTP API's credentials",
		Long: `Each client of the HTTP API (muster serve) has its own credential: a name,
which is the actor recorded for everything it does, a role, which says what
it may do, and for some roles a scope:

  command     open, steer, escalate, decide, skip, abort, widen and lift responses; issue passes
  supervisor  read responses, events, runbooks, areas, assignments, stock, shipments, passes
  station     upload samples, for the sampling points of its scope only (--scope required)
  field       acknowledge assignments (its name is the person's staff code), confirm
              deliveries, report stock, check passes, sign volunteers up, report rectifications
  inspector   report site inspections (for the sites of its scope, or any when it has none)
              and re-inspect the findings assigned to it (its name is the inspector's)
  admin       publish and validate runbooks (built-in names are reserved)

The token is shown once, at creation; only its SHA-256 digest is stored.
Creating and revoking are recorded in the event log (workflow "credentials").`,
	}
	cmd.AddCommand(a.tokenCreateCommand(), a.tokenListCommand(), a.tokenRevokeCommand())
	return cmd
}

func (a *app) tokenCreateCommand() *cobra.Command {
	var (
		name, role, by string
		scope          []string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE [--scope CODE,...]",
		Short: "Make a credential and print its token (shown only this once)",
		Example: `  muster token create --name duty-officer --role command
  muster token create --name station-1 --role station --scope SAMPLING-POINT-01,SAMPLING-POINT-02
  TOKEN=$(muster token create --name wall-screen --role supervisor)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name = strings.TrimSpace(name)
			switch {
			case name == "":
				return errors.New("--name is required: who the client is (the actor recorded for what it does)")
			case slices.Contains(reservedNames, name):
				return fmt.Errorf("--name %q is reserved (reserved: %s)", name, strings.Join(reservedNames, ", "))
			case !slices.Contains(api.Roles, role):
				return fmt.Errorf("--role %q: want one of %s", role, strings.Join(api.Roles, ", "))
			case role == api.RoleStation && len(scope) == 0:
				return errors.New("--scope is required for a station: the codes of its sampling points")
			case len(scope) > 0 && role != api.RoleStation && role != api.RoleInspector:
				return fmt.Errorf("--scope: a %s has no scope (stations and inspectors do)", role)
			}
			st, err := a.store(ctx)
			if err != nil {
				return err
			}
			district, err := a.scopeDistrict(cmd, st, role, scope)
			if err != nil {
				return err
			}
			tok, digest, err := api.NewToken()
			if err != nil {
				return err
			}
			c, err := st.CreateCredential(ctx, store.Credential{Name: name, Role: role, Scope: scope, District: district}, digest, by)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(map[string]any{"name": c.Name, "role": c.Role, "scope": []string(c.Scope), "district": c.District, "token": tok})
			}
			fmt.Fprintln(a.out, tok)
			fmt.Fprintf(a.errOut, "Credential %s (%s) created. The token above is shown only once: hand it to the client, which sends it as Authorization: Bearer <token>.\n", c.Name, c.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the client's name: the actor recorded for what it does (required)")
	cmd.Flags().StringVar(&role, "role", "", "one of "+strings.Join(api.Roles, ", ")+" (required)")
	cmd.Flags().StringSliceVar(&scope, "scope", nil, "a station's sampling points, an inspector's sites (comma-separated codes)")
	cmd.Flags().StringVar(&by, "by", defaultOperator(), "who creates the credential, for the event log")
	return cmd
}

// scopeDistrict checks a scope against the loaded scenario and returns the
// district the credential belongs to: --district, or the only district
// loaded. Codes are unique only within a district, so with several loaded
// a scope must say whose points or sites it names. A credential without a
// scope belongs to no district.
func (a *app) scopeDistrict(cmd *cobra.Command, st *store.Store, role string, scope []string) (string, error) {
	if len(scope) == 0 {
		return "", nil
	}
	district := a.district
	if district == "" {
		top, err := st.TopAreas(cmd.Context())
		if err != nil {
			return "", fmt.Errorf("check --scope: %w", err)
		}
		switch len(top) {
		case 0:
			return "", errors.New("--scope: no scenario is loaded (`muster scenario load`)")
		case 1:
			district = top[0]
		default:
			return "", fmt.Errorf("--scope: districts %s are loaded and a code names a place in one district only: add --district", strings.Join(top, ", "))
		}
	}
	kind := "" // a site or an area
	if role == api.RoleStation {
		kind = "sampling-point"
	}
	known, err := st.KnownPlaces(cmd.Context(), district, scope, kind)
	if err != nil {
		return "", fmt.Errorf("check --scope: %w", err)
	}
	for _, code := range scope {
		if !slices.Contains(known, code) {
			if role == api.RoleStation {
				return "", fmt.Errorf("--scope %q: not a sampling point of district %s (`muster areas` lists the areas; sampling points are sites of kind sampling-point)", code, district)
			}
			return "", fmt.Errorf("--scope %q: not a site or area of district %s", code, district)
		}
	}
	return district, nil
}

func (a *app) tokenListCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "list [--all]",
		Short:   "List the credentials (never their tokens)",
		Example: "  muster token list\n  muster token list --all -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			cs, err := st.Credentials(cmd.Context(), all)
			if err != nil {
				return err
			}
			if a.output == "json" {
				return json.NewEncoder(a.out).Encode(cs)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tROLE\tSCOPE\tCREATED\tBY\tREVOKED")
			for _, c := range cs {
				revoked := ""
				if c.RevokedAt != nil {
					revoked = c.RevokedAt.Local().Format("2006-01-02 15:04")
					if c.RevokedBy != nil {
						revoked += " by " + *c.RevokedBy
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, c.Role, strings.Join(c.Scope, ","), c.CreatedAt.Local().Format("2006-01-02 15:04"), c.CreatedBy, revoked)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include revoked credentials")
	return cmd
}

func (a *app) tokenRevokeCommand() *cobra.Command {
	var by string
	cmd := &cobra.Command{
		Use:     "revoke NAME",
		Short:   "Revoke a credential: its token is refused from the next request on",
		Example: "  muster token revoke station-1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			c, err := st.RevokeCredential(cmd.Context(), args[0], by)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "Credential %s (%s) revoked.\n", c.Name, c.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", defaultOperator(), "who revokes the credential, for the event log")
	return cmd
}
