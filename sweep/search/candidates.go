package search

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/tinydigits/tinydigits/models"
)

// Candidate is one net of the search: the base with one value drawn for
// each dimension, its parameter count from the plan, and where it stands.
type Candidate struct {
	ID     string            `json:"id"`     // "c001": its folder and its arch's name suffix
	Values map[string]string `json:"values"` // what was drawn, by dimension, as JSON
	Params int64             `json:"params"`
	Arch   models.Arch       `json:"arch"`
	// Rung is the highest rung the candidate was sent to (0-based index
	// into the rungs, the top rung being the recipe's epochs); Reached the
	// highest whose every seed has finished (-1: none yet).
	Rung    int `json:"rung"`
	Reached int `json:"reached"`
	// Scores holds, per rung reached, the seeds' mean validation accuracy
	// and loss and the lowest seed's accuracy at that epoch.
	Scores []Score `json:"scores"`
}

// Score is a candidate's figures at a rung, over its seeds.
type Score struct {
	Epoch  int     `json:"epoch"`
	Acc    float64 `json:"acc"`    // mean validation accuracy (%)
	Loss   float64 `json:"loss"`   // mean validation loss
	Lowest float64 `json:"lowest"` // the lowest seed's accuracy
}

// sampler draws candidates from a spec's space, in a fixed sequence for
// its sample seed: draw n is the same whatever was drawn or refused before.
type sampler struct {
	spec *Spec
	dims []dimension
}

func newSampler(s *Spec) (*sampler, error) {
	dims, err := s.space()
	if err != nil {
		return nil, err
	}
	return &sampler{spec: s, dims: dims}, nil
}

// draw is the n-th draw of the space (0-based): its values and its arch.
func (p *sampler) draw(n int) (map[string]string, models.Arch, error) {
	rng := rand.New(rand.NewPCG(p.spec.SampleSeed, uint64(n)))
	values := map[string]string{}
	for _, d := range p.dims {
		if d.values != nil {
			values[d.name] = string(d.values[rng.IntN(len(d.values))])
			continue
		}
		u := rng.Float64()
		v := d.lo + u*(d.hi-d.lo)
		if d.log {
			v = math.Exp(math.Log(d.lo) + u*(math.Log(d.hi)-math.Log(d.lo)))
		}
		// Three significant digits: readable, and equal candidates meet.
		values[d.name] = strconv.FormatFloat(v, 'g', 3, 64)
	}
	a, err := p.arch(values)
	return values, a, err
}

// arch applies drawn values to the base net: options first (by the base's
// layer indices), then the optional layers left out.
func (p *sampler) arch(values map[string]string) (models.Arch, error) {
	base := p.spec.base
	a := base
	a.Layers = append([]models.Layer{}, base.Layers...)
	for _, d := range p.dims {
		v := values[d.name]
		switch {
		case strings.HasPrefix(d.name, "layer "):
		case strings.Contains(d.name, "."):
			idx, opt, _ := strings.Cut(d.name, ".")
			i, _ := strconv.Atoi(idx)
			l, err := setOption(a.Layers[i-1], opt, json.RawMessage(v))
			if err != nil {
				return a, fmt.Errorf("%s: %v", d.name, err)
			}
			a.Layers[i-1] = l
		default:
			if err := setRecipe(&a.Recipe, d.name, v); err != nil {
				return a, fmt.Errorf("recipe %s: %v", d.name, err)
			}
		}
	}
	var kept []models.Layer
	for i, l := range a.Layers {
		if v, ok := values[fmt.Sprintf("layer %d", i+1)]; ok && v == "false" {
			continue
		}
		kept = append(kept, l)
	}
	a.Layers = kept
	a.Recipe = a.Recipe.WithDefaults()
	return a, nil
}

// setRecipe sets a recipe field (an arch file's name) from a JSON value,
// as an arch file's recipe reads it.
func setRecipe(r *models.Recipe, name, v string) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return err
	}
	fields[name] = json.RawMessage(v)
	data, _ = json.Marshal(fields)
	var out models.Recipe
	if err := json.Unmarshal(data, &out); err != nil {
		return err
	}
	*r = out
	return nil
}

// key is what makes two candidates the same net with the same recipe.
func key(a models.Arch) string {
	a.Name, a.Description = "", ""
	return string(a.MarshalFile())
}

// describe writes drawn values as "lr=0.1, 1.out=12, layer 4=false".
func describe(dims []dimension, values map[string]string) string {
	var parts []string
	for _, d := range dims {
		parts = append(parts, d.name+"="+values[d.name])
	}
	return strings.Join(parts, ", ")
}
