package server

import (
	"bufio"
	"os"
	"runtime/debug"
	"strings"
	"testing"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/util/compatibility"

	"github.com/dataplane-aggregator/dpa/pkg/version"
)

// TestGitVersion: dpa's version becomes semver build metadata after the Kubernetes version,
// without its "v", every character semver does not allow in build metadata replaced by "-",
// so that kubectl (which parses GitVersion with ParseSemantic for its skew warning) reads
// the Kubernetes version.
func TestGitVersion(t *testing.T) {
	for name, tc := range map[string]struct{ kube, dpa, want string }{
		"release":               {"v1.35.4", "v0.1.0", "v1.35.4+dpa.0.1.0"},
		"without v":             {"v1.35.4", "0.1.0", "v1.35.4+dpa.0.1.0"},
		"pre-release":           {"v1.35.4", "v0.1.0-dev", "v1.35.4+dpa.0.1.0-dev"},
		"release candidate":     {"v1.35.4", "v1.2.0-rc.1", "v1.35.4+dpa.1.2.0-rc.1"},
		"own build metadata":    {"v1.35.4", "v1.2.3+g1234abc", "v1.35.4+dpa.1.2.3-g1234abc"},
		"git describe":          {"v1.36.0", "v1.2.3-4-g1234abc-dirty", "v1.36.0+dpa.1.2.3-4-g1234abc-dirty"},
		"slashes and spaces":    {"v1.35.4", "feature/x y_z", "v1.35.4+dpa.feature-x-y-z"},
		"non-ASCII":             {"v1.35.4", "v1.0.0-ünï", "v1.35.4+dpa.1.0.0--n-"},
		"only a leading v goes": {"v1.35.4", "vv1", "v1.35.4+dpa.v1"},
	} {
		t.Run(name, func(t *testing.T) {
			got := gitVersion(tc.kube, tc.dpa)
			if got != tc.want {
				t.Errorf("gitVersion(%q, %q) = %q, want %q", tc.kube, tc.dpa, got, tc.want)
			}
			v, err := utilversion.ParseSemantic(got)
			if err != nil {
				t.Fatalf("kubectl cannot parse %q: %v", got, err)
			}
			k := utilversion.MustParseSemantic(tc.kube)
			if !v.WithBuildMetadata("").EqualTo(k) {
				t.Errorf("%q reads as %v, want the Kubernetes version %v", got, v, k)
			}
			if !strings.HasPrefix(v.BuildMetadata(), "dpa.") {
				t.Errorf("build metadata %q does not start with dpa.", v.BuildMetadata())
			}
		})
	}
}

// TestKubeLibraryVersion: the Kubernetes version is v1.X.Y of the linked k8s.io/apiserver
// v0.X.Y. Test binaries carry no module list in their build info, so there (as in any binary
// built without one) it is the library's major.minor with patch 0.
func TestKubeLibraryVersion(t *testing.T) {
	cases := []struct{ major, minor, want string }{
		{"1", "35", "v1.35.0"},
		{"1", "36", "v1.36.0"},
	}
	if bi, ok := debug.ReadBuildInfo(); ok && len(bi.Deps) > 0 {
		want := "v1." + strings.TrimPrefix(goModVersion(t, "k8s.io/apiserver"), "v0.")
		for i := range cases {
			cases[i].want = want
		}
	}
	for _, tc := range cases {
		if got := kubeLibraryVersion(tc.major, tc.minor); got != tc.want {
			t.Errorf("kubeLibraryVersion(%s, %s) = %q, want %q", tc.major, tc.minor, got, tc.want)
		}
	}
}

// goModVersion is the version go.mod requires of a module.
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	f, err := os.Open("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(s.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module {
			return fields[1]
		}
	}
	t.Fatalf("go.mod does not require %s", module)
	return ""
}

// TestVersionInfo: /version keeps the library's Kubernetes version fields (feature gates and
// emulation depend on them) and reports dpa's version and commit in GitVersion and GitCommit.
func TestVersionInfo(t *testing.T) {
	oldVersion, oldCommit := version.Version, version.GitCommit
	t.Cleanup(func() { version.Version, version.GitCommit = oldVersion, oldCommit })
	version.Version, version.GitCommit = "v0.1.0", "0123abc"

	lib := compatibility.DefaultBuildEffectiveVersion().Info()
	ev := effectiveVersion()
	info := ev.Info()
	if info == nil {
		t.Fatal("no version info")
	}
	if info.Major != lib.Major || info.Minor != lib.Minor || info.EmulationMajor != lib.EmulationMajor ||
		info.EmulationMinor != lib.EmulationMinor || info.MinCompatibilityMinor != lib.MinCompatibilityMinor {
		t.Errorf("Kubernetes version fields changed: %#v, library's %#v", *info, *lib)
	}
	v, err := utilversion.ParseSemantic(info.GitVersion)
	if err != nil {
		t.Fatalf("kubectl cannot parse GitVersion %q: %v", info.GitVersion, err)
	}
	if got, want := v.String(), kubeLibraryVersion(lib.Major, lib.Minor)+"+dpa.0.1.0"; "v"+got != want {
		t.Errorf("GitVersion = %q, want %q", info.GitVersion, want)
	}
	if info.GitCommit != "0123abc" {
		t.Errorf("GitCommit = %q, want dpa's", info.GitCommit)
	}
	if ev.EmulationVersion().String() != compatibility.DefaultBuildEffectiveVersion().EmulationVersion().String() {
		t.Errorf("emulation version %v differs from the library's", ev.EmulationVersion())
	}
}
