package compaction_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/floe-io/floe/compaction"
)

// TestMakePlan runs the cases of testdata/plan/*.txt. A case is:
//
//	=== name
//	options target=100 threshold=50 min=2     (optional; 0 = default;
//	                                           tiered=true: PlanOptions.Tiered,
//	                                           whole=N: TierWholeBelow)
//	file PATH spec=0 part=P size=N            (any number; coarse=true
//	                                           marks a coarse-spec file,
//	                                           parent=P its currency,
//	                                           fresh=true a Fresh file)
//	----
//	expected output, as rendered by renderPlan
//
// Lines starting with # are comments.
func TestMakePlan(t *testing.T) {
	paths, err := filepath.Glob("testdata/plan/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no plan cases: %v", err)
	}
	for _, path := range paths {
		for _, c := range readPlanCases(t, path) {
			t.Run(filepath.Base(path)+"/"+c.name, func(t *testing.T) {
				got := renderPlan(compaction.MakePlan(c.files, c.opts))
				if got != c.want {
					t.Errorf("%s:%d: plan mismatch\n--- got\n%s--- want\n%s", path, c.line, got, c.want)
				}
				// Pure: the input order does not matter.
				rev := make([]compaction.FileInfo, len(c.files))
				for i, f := range c.files {
					rev[len(c.files)-1-i] = f
				}
				if again := renderPlan(compaction.MakePlan(rev, c.opts)); again != got {
					t.Errorf("plan depends on input order:\n%s\nvs\n%s", again, got)
				}
			})
		}
	}
}

type planCase struct {
	name  string
	line  int
	opts  compaction.PlanOptions
	files []compaction.FileInfo
	want  string
}

func readPlanCases(t *testing.T, path string) []planCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cases  []planCase
		cur    *planCase
		inWant bool
		n      int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "=== "):
			cases = append(cases, planCase{name: strings.TrimPrefix(line, "=== "), line: n})
			cur, inWant = &cases[len(cases)-1], false
		case cur == nil:
			if strings.TrimSpace(line) != "" {
				t.Fatalf("%s:%d: text before the first case", path, n)
			}
		case inWant:
			if strings.TrimSpace(line) != "" {
				cur.want += line + "\n"
			}
		case line == "----":
			inWant = true
		case strings.TrimSpace(line) == "":
		default:
			parsePlanLine(t, path, n, line, cur)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func parsePlanLine(t *testing.T, path string, n int, line string, c *planCase) {
	t.Helper()
	fields := strings.Fields(line)
	kv := map[string]string{}
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		}
	}
	num := func(k string) int64 {
		if kv[k] == "" {
			return 0
		}
		v, err := strconv.ParseInt(kv[k], 10, 64)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, n, k, err)
		}
		return v
	}
	switch fields[0] {
	case "options":
		c.opts = compaction.PlanOptions{
			TargetFileSize: num("target"), SmallFileThreshold: num("threshold"), MinInputFiles: int(num("min")),
			Tiered: kv["tiered"] == "true", TierWholeBelow: num("whole"),
		}
	case "file":
		if len(fields) < 2 {
			t.Fatalf("%s:%d: file needs a path", path, n)
		}
		c.files = append(c.files, compaction.FileInfo{
			Path: fields[1], SpecID: int32(num("spec")), Partition: kv["part"], SizeBytes: num("size"),
			Coarse: kv["coarse"] == "true", Parent: kv["parent"], Fresh: kv["fresh"] == "true",
		})
	default:
		t.Fatalf("%s:%d: unknown directive %q", path, n, fields[0])
	}
}

func renderPlan(p compaction.Plan) string {
	var b strings.Builder
	for _, g := range p.Groups {
		coarse := ""
		if g.Coarse {
			coarse = " coarse"
		}
		fmt.Fprintf(&b, "group spec=%d part=%s files=%s bytes=%d out=%d%s\n",
			g.SpecID, g.Partition, strings.Join(g.Paths(), ","), g.InputBytes, g.EstOutputFiles, coarse)
	}
	fmt.Fprintf(&b, "total groups=%d files=%d bytes=%d out=%d partitions=%d skipped=%d\n",
		len(p.Groups), p.InputFiles, p.InputBytes, p.EstOutputFiles, p.Partitions, p.SkippedSmallFiles)
	return b.String()
}
