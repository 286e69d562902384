package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// readmeBlock is the first ```sh block after the README heading.
func readmeBlock(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no heading %q", heading)
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(after)
	if m == nil {
		t.Fatalf("no sh block after %q", heading)
	}
	return m[1]
}

// TestReadmeExamples runs the README's kubectl quickstart and its calls of every service
// type, as written, against a dpa started the way `make run` starts it — on a port and data
// dir other than the defaults, given to the examples as PORT and DATA_DIR. Every call must
// answer 2xx (streams are cut after a few seconds) and every kubectl command succeed.
func TestReadmeExamples(t *testing.T) {
	d := startServer(t, "", "--plugins-dir", examplePlugins(t), "--provisioning", filepath.Join(repo, "examples", "provisioning"))
	if d.port == 6443 || filepath.Base(d.dataDir) == "data" {
		t.Fatalf("the test needs a port and data dir other than the defaults: %d %s", d.port, d.dataDir)
	}
	d.kc(t, "apply", "-f", filepath.Join(repo, "examples", "dataplaneservices"))
	d.kc(t, "wait", "--for=condition=Available", "dataplaneservice/example-datasource", "dataplaneservice/example-app", "--timeout=60s")

	out := t.TempDir()
	// The README's c() as written prints bodies; this one records each call's status, and
	// ends streams (which never end by themselves) after a few seconds.
	calls := readmeBlock(t, "## Calling plugins through dpa")
	def := regexp.MustCompile(`(?m)^c\(\) \{.*\}$`)
	if !def.MatchString(calls) {
		t.Fatal("the README's calls no longer define c()")
	}
	calls = def.ReplaceAllLiteralString(calls, `c() { n=$((n+1)); printf '%s %s\n' "$(curl -sk --max-time 4 -o "$OUT/body-$n" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$@")" "$*" >>"$OUT/codes"; }`)
	quickstart := readmeBlock(t, "## Quickstart with kubectl")
	// kubectl's watch (-w) never ends by itself either.
	kubectlWrapper := `kubectl() { timeout 10 "$KUBECTL" "$@"; rc=$?; if [ $rc != 0 ] && [ $rc != 124 ]; then echo "kubectl $*: exit $rc" >>"$OUT/failed"; fi; }` + "\n"

	for name, script := range map[string]string{"quickstart": kubectlWrapper + quickstart, "calls": "n=0\n" + calls} {
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(d.port), "DATA_DIR="+d.dataDir, "OUT="+out, "KUBECTL="+kubectl, "KUBECONFIG=")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		} else {
			t.Logf("%s:\n%s", name, b)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "failed")); err == nil {
		t.Errorf("README kubectl commands failed:\n%s", b)
	}
	codes, err := os.ReadFile(filepath.Join(out, "codes"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(codes)), "\n")
	if want := strings.Count(calls, "\nc "); len(lines) != want {
		t.Errorf("%d calls ran, the README has %d", len(lines), want)
	}
	for i, l := range lines {
		code, call, _ := strings.Cut(l, " ")
		if !strings.HasPrefix(code, "2") {
			body, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("body-%d", i+1)))
			t.Errorf("README call %s answered %s: %s", call, code, body)
		}
	}
}
