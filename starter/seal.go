package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/musterhq/muster/app/service"
	"github.com/musterhq/muster/internal/domain"
	"github.com/musterhq/muster/internal/store"
	"github.com/musterhq/muster/workflows"
)

func (a *app) sealCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "seal",
		Short: "Seal compounds: checkpoints at every gate, roads closed but one, disinfection, compliance checks",
	}
	var (
		in        workflows.SealCompoundInput
		compounds []string
		community string
	)
	start := &cobra.Command{
		Use:   "start --incident ID (--compound CODE... | --community CODE)",
		Short: "Start sealing one or more compounds for an incident",
		Long: `Start the SealCompound workflow for each compound: residents are notified,
every gate gets a staffed checkpoint (the entrance gate checks people
through), roads close except the entrance street, public areas are
disinfected, and checkpoints are checked every --check-every hours until the
seal is lifted with ` + "`muster lift`" + `.

Each seal's workflow ID is response/<incident>/seal/<compound>; starting it
again for the same incident and compound returns the existing seal.`,
		Example: `  muster seal start --incident inc-0403 --community COMMUNITY --time-scale 720
  muster seal start --incident inc-0403 --compound COMPOUND-1 --compound COMPOUND-2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(compounds) == 0 && community == "" {
				return errors.New("name the compounds: --compound CODE (repeatable) or --community CODE for all its compounds (list them with `muster areas --level compound`)")
			}
			// Compounds are checked against the area tree below; check the
			// other flags before touching any service.
			check := in.WithDefaults()
			check.Compound = "-"
			if err := check.Validate(); err != nil {
				return err
			}
			s, err := a.store(ctx)
			if err != nil {
				return err
			}
			areas, err := resolveCompounds(ctx, s, a.district, compounds, community)
			if err != nil {
				return err
			}
			c, err := a.client(ctx)
			if err != nil {
				return err
			}
			for _, ar := range areas {
				if err := a.startSeal(ctx, c, in, ar); err != nil {
					return err
				}
			}
			fmt.Fprintf(a.out, "Watch it: muster status %s   (or the Web UI, filter MusterIncident = '%s')\n", in.Incident, in.Incident)
			return nil
		},
	}
	f := start.Flags()
	f.StringVar(&in.Incident, "incident", "", "incident ID, e.g. inc-0403 (lower-case letters, digits and '-')")
	f.StringSliceVar(&compounds, "compound", nil, "compound code or path to seal (repeatable, or comma-separated)")
	f.StringVar(&community, "community", "", "seal every compound under this community (or any area)")
	f.IntVar(&in.Level, "level", 1, "response level, 1 (highest) to 4")
	f.Float64Var(&in.CheckEveryHours, "check-every", workflows.DefaultCheckEveryHours, "hours between checkpoint compliance rounds")
	f.IntVar(&in.StaffPerCheckpoint, "staff-per-checkpoint", workflows.DefaultStaffPerCheckpoint, "staff needed at each checkpoint on every shift")
	f.Float64Var(&in.ShiftHours, "shift", workflows.DefaultShift.Hours(), "hours checkpoint staff stand before rested staff relieve them (0: no relief)")
	f.Float64Var(&in.TimeScale, "time-scale", 1, "speed up every duration (720: two hours last ten seconds)")
	f.StringVar(&in.RequestedBy, "by", "command-center", "who orders the seal, for the event log")
	start.MarkFlagRequired("incident")
	cmd.AddCommand(start)
	return cmd
}

// startSeal starts (or finds running) the seal of one compound and says
// which.
func (a *app) startSeal(ctx context.Context, c client.Client, in workflows.SealCompoundInput, ar store.Area) error {
	in.Compound = ar.Code
	if a.district != "" {
		// The path names the compound alone, whichever districts share its
		// code.
		in.Compound = ar.Path
	}
	id, existing, err := service.StartSeal(ctx, c, a.cfg.TaskQueue, in, ar)
	if err != nil {
		return err
	}
	if existing {
		fmt.Fprintf(a.out, "%s is already running (seal of %s).\n", id, ar.Name)
	} else {
		fmt.Fprintf(a.out, "Started %s (seal of %s, %d residents).\n", id, ar.Name, ar.Population)
	}
	return nil
}

func resolveCompounds(ctx context.Context, s *store.Store, district string, compounds []string, community string) ([]store.Area, error) {
	var out []store.Area
	for _, code := range compounds {
		ar, err := s.AreaIn(ctx, district, code)
		if errors.Is(err, domain.ErrNotFound) {
			return nil, fmt.Errorf("unknown compound %q: list compounds with `muster areas --level compound` (is the scenario loaded?)", code)
		}
		if err != nil {
			return nil, err
		}
		if ar.Level != "compound" {
			return nil, fmt.Errorf("%q is a %s, not a compound: use --community %s to seal its compounds", code, ar.Level, code)
		}
		out = append(out, ar)
	}
	if community != "" {
		as, err := s.DescendantsIn(ctx, district, community, "compound")
		if errors.Is(err, domain.ErrNotFound) {
			return nil, fmt.Errorf("unknown area %q: list areas with `muster areas` (is the scenario loaded?)", community)
		}
		if err != nil {
			return nil, err
		}
		if len(as) == 0 {
			return nil, fmt.Errorf("area %q has no compounds", community)
		}
		out = append(out, as...)
	}
	return out, nil
}
