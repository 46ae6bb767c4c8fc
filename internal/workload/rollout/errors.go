package rollout

import (
	"fmt"
	"strings"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/workload"
)

// AlreadyDeployedError refuses to create a workload whose name is already
// deployed on the Docker host: a new workload never takes over one that
// runs; only import adopts it.
type AlreadyDeployedError struct {
	Name       string
	Containers []string
}

func (e *AlreadyDeployedError) Error() string {
	return fmt.Sprintf("workload %q is already deployed on the Docker host (containers %s), and a new workload never takes over one "+
		"that runs. To manage it from this state, import it: terraform import <this resource's address> %s (or an import block "+
		"with id = %q). Otherwise choose another name", e.Name, strings.Join(e.Containers, ", "), e.Name, e.Name)
}

// ForeignOwnerError refuses to change a workload that another owner (another
// Terraform state) deployed.
type ForeignOwnerError struct {
	Name  string
	Owner string
	// Others are the owners the foreign containers record.
	Others     []string
	Containers []string
}

func (e *ForeignOwnerError) Error() string {
	return fmt.Sprintf("workload %q on the Docker host belongs to another Terraform state: containers %s record owner %s, and "+
		"this state is owner %s. Nothing was changed: a state never replaces, re-routes or destroys a workload another state "+
		"deployed. Manage it from the state that deployed it, or remove it from this one (terraform state rm)",
		e.Name, strings.Join(e.Containers, ", "), strings.Join(e.Others, ", "), e.Owner)
}

// NotDeployedError is a name that no live instance on the Docker host
// carries.
type NotDeployedError struct{ Name string }

func (e *NotDeployedError) Error() string {
	return fmt.Sprintf("no workload named %q runs on the Docker host (no live container labelled %s=%s): nothing of that name "+
		"is deployed, or it was destroyed", e.Name, workload.LabelWorkload, e.Name)
}
