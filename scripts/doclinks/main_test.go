package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Slugs as GitHub renders them (the anchors of headings on github.com):
// punctuation dropped, spaces to hyphens, case folded, letters of any
// script kept.
func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Sweeps: threads and runs side by side":                    "sweeps-threads-and-runs-side-by-side",
		"tiny: 99.4% with 3,897 parameters, on two seeds of three": "tiny-994-with-3897-parameters-on-two-seeds-of-three",
		"On a GPU":                               "on-a-gpu",
		"`-continue` and the run":                "-continue-and-the-run",
		"Step 3: augmentation, StepLR, batch 64": "step-3-augmentation-steplr-batch-64",
		"Every seed: averaged weights ##":        "every-seed-averaged-weights",
		"Über größe":                             "über-größe",
		"a  b":                                   "a--b",
		"snake_case name":                        "snake_case-name",
	} {
		if got := Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestLinksAndAnchors(t *testing.T) {
	page := "# Title\n\nSee [a](docs/a.md#part), [b](b.md), [web](https://example.com), `[c](c.md)`.\n" +
		"```\n[d](d.md)\n# not a heading\n```\n## Part\n## Part\n[ref]: other.md#x\n#hashtag\n"
	var targets []string
	for _, l := range Links(page) {
		targets = append(targets, l.Target)
	}
	if got := strings.Join(targets, " "); got != "docs/a.md#part b.md other.md#x" {
		t.Errorf("links %q", got)
	}
	a := Anchors(page)
	if len(a) != 3 || !a["title"] || !a["part"] || !a["part-1"] {
		t.Errorf("anchors %v", a)
	}
}

// A broken file, a broken anchor and a link out of the repository are each
// reported; good links are not.
func TestCheck(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "docs"), 0o755)
	os.WriteFile(filepath.Join(root, "README.md"), []byte("# Top\n[ok](docs/page.md#a-section) [self](#top) [dir](docs)\n[gone](docs/missing.md)\n[bad anchor](docs/page.md#nope)\n[out](../elsewhere.md)\n"), 0o644)
	os.WriteFile(filepath.Join(root, "docs", "page.md"), []byte("## A section\n[back](../README.md#top)\n"), 0o644)
	problems, pages, links, err := check(root)
	if err != nil {
		t.Fatal(err)
	}
	if pages != 2 || links != 7 || len(problems) != 3 {
		t.Fatalf("%d pages, %d links, problems:\n%s", pages, links, strings.Join(problems, "\n"))
	}
	for i, want := range []string{"docs/missing.md: no such file", "docs/page.md#nope: no heading #nope", "../elsewhere.md: outside the repository"} {
		if !strings.HasSuffix(problems[i], want) {
			t.Errorf("problem %d: %q, want …%q", i, problems[i], want)
		}
	}
}
