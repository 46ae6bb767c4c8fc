package runner

import (
	"os"
	"testing"

	"github.com/tinyforge/terraform-provider-tinyforge/internal/acctest"
)

func TestMain(m *testing.M) { os.Exit(acctest.RunAndCleanUp(m)) }
