package transforms

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/tinydigits/tinydigits/data/mnist"
)

// Source is a data set of 8-bit images with labels; *mnist.Set is one.
type Source interface {
	Len() int
	Image(i int) []byte // W·H bytes, row-major
	Label(i int) uint8
}

// LoaderConfig says how a Loader batches and augments.
type LoaderConfig struct {
	BatchSize int
	// Shuffle draws a new order every epoch, from Seed and the epoch number.
	// Without it, batches follow the source's order (evaluation).
	Shuffle bool
	// Seed makes shuffling and augmentation reproducible.
	Seed uint64
	// Transform runs on each image after ToTensor scaling, e.g.
	// Compose{RandomRotation{Degrees: 7}, MNISTNormalize}. nil leaves the
	// [0, 1] pixels as they are.
	Transform Transform
	// Workers is the number of goroutines that prepare a batch (default 1).
	Workers int
	// Prefetch is how many batches are prepared ahead of the one in use
	// (default 1). More smooths out a consumer as fast as the pipeline,
	// such as a GPU replaying a captured step.
	Prefetch int
	// W and H are the image size (default 28×28).
	W, H int
}

// Batch is a prepared batch: images as one float32 buffer of shape
// [N, 1, H, W] and labels as int64, ready for one copy into libtorch.
type Batch struct {
	X     []float32
	Y     []int64
	N     int // images in this batch (the last one of an epoch may be short)
	Index int // the batch's number within the epoch
	W, H  int
}

// Shape is the shape of X: [N, 1, H, W].
func (b *Batch) Shape() []int64 { return []int64{int64(b.N), 1, int64(b.H), int64(b.W)} }

// Loader cuts a Source into batches, epoch after epoch. Its batch buffers
// (1 + Prefetch) are reused from one epoch to the next (an epoch started
// while another is still open gets buffers of its own).
type Loader struct {
	src   Source
	cfg   LoaderConfig
	spare chan *Batch
}

// NewLoader checks the configuration against the source.
func NewLoader(src Source, cfg LoaderConfig) (*Loader, error) {
	if cfg.W == 0 && cfg.H == 0 {
		cfg.W, cfg.H = mnist.Cols, mnist.Rows
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 1
	}
	switch {
	case cfg.BatchSize < 1:
		return nil, fmt.Errorf("loader: batch size must be at least 1, got %d", cfg.BatchSize)
	case cfg.Workers < 1:
		return nil, fmt.Errorf("loader: workers must be at least 1, got %d", cfg.Workers)
	case cfg.Prefetch < 1:
		return nil, fmt.Errorf("loader: prefetch must be at least 1, got %d", cfg.Prefetch)
	case cfg.W < 1 || cfg.H < 1:
		return nil, fmt.Errorf("loader: image size %d×%d", cfg.W, cfg.H)
	case src.Len() == 0:
		return nil, fmt.Errorf("loader: the data set is empty")
	case len(src.Image(0)) != cfg.W*cfg.H:
		return nil, fmt.Errorf("loader: images hold %d bytes, want %d×%d", len(src.Image(0)), cfg.W, cfg.H)
	}
	return &Loader{src: src, cfg: cfg, spare: make(chan *Batch, 1+cfg.Prefetch)}, nil
}

// buffer takes a spare batch buffer, or makes one.
func (l *Loader) buffer() *Batch {
	select {
	case b := <-l.spare:
		return b
	default:
		return &Batch{
			X: make([]float32, l.cfg.BatchSize*l.cfg.W*l.cfg.H),
			Y: make([]int64, l.cfg.BatchSize),
			W: l.cfg.W, H: l.cfg.H,
		}
	}
}

// Len is the number of images in an epoch.
func (l *Loader) Len() int { return l.src.Len() }

// NumBatches is the number of batches in an epoch, the last one partial when
// the batch size does not divide the data (PyTorch's drop_last=False).
func (l *Loader) NumBatches() int { return (l.src.Len() + l.cfg.BatchSize - 1) / l.cfg.BatchSize }

// Order is the order in which epoch visits the source's images.
func (l *Loader) Order(epoch int) []int {
	order := make([]int, l.src.Len())
	for i := range order {
		order[i] = i
	}
	if l.cfg.Shuffle {
		rng := rand.New(rand.NewPCG(mix(l.cfg.Seed, 0x5eed), mix(uint64(epoch), 0x0d3e)))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

// mix is SplitMix64's finaliser over a ⊕ b·φ: nearby seeds and epochs give
// unrelated random streams.
func mix(a, b uint64) uint64 {
	z := a ^ (b * 0x9e3779b97f4a7c15)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Epoch starts preparing epoch number epoch (0-based) in the background and
// returns an iterator over its batches. Close it when done, also when
// stopping early.
func (l *Loader) Epoch(epoch int) *Iter {
	it := &Iter{
		ready:  make(chan *Batch, l.cfg.Prefetch),
		free:   make(chan *Batch, 1+l.cfg.Prefetch),
		done:   make(chan struct{}),
		loader: l,
		bufs:   make([]*Batch, 1+l.cfg.Prefetch),
	}
	// One buffer the caller trains on, the others prepared ahead.
	for i := range it.bufs {
		it.bufs[i] = l.buffer()
		it.free <- it.bufs[i]
	}
	it.wg.Add(1)
	go l.produce(it, epoch)
	return it
}

// Iter yields the batches of one epoch in order.
type Iter struct {
	ready  chan *Batch
	free   chan *Batch
	done   chan struct{}
	wg     sync.WaitGroup
	cur    *Batch
	once   sync.Once
	loader *Loader
	bufs   []*Batch
	closed bool
}

// Next returns the next batch, or false at the end of the epoch. The batch
// stays valid until the following call to Next (or Close), which recycles its
// buffers.
func (it *Iter) Next() (*Batch, bool) {
	if it.closed {
		return nil, false
	}
	if it.cur != nil {
		it.free <- it.cur
		it.cur = nil
	}
	b, ok := <-it.ready
	if !ok {
		return nil, false
	}
	it.cur = b
	return b, true
}

// Close stops the background work and waits for it; batches from Next are
// invalid afterwards. It is safe to call more than once.
func (it *Iter) Close() {
	it.once.Do(func() {
		it.closed = true
		close(it.done)
		it.wg.Wait()
		// The producer has stopped: hand the buffers back to the loader.
		it.cur = nil
		for _, b := range it.bufs {
			select {
			case it.loader.spare <- b:
			default:
			}
		}
	})
}

// worker is one goroutine's scratch space.
type worker struct {
	im  *Image
	pcg *rand.PCG
	rng *rand.Rand
}

func (l *Loader) produce(it *Iter, epoch int) {
	defer it.wg.Done()
	defer close(it.ready)
	order := l.Order(epoch)
	workers := make([]*worker, l.cfg.Workers)
	for i := range workers {
		pcg := rand.NewPCG(0, 0)
		workers[i] = &worker{im: NewImage(l.cfg.W, l.cfg.H), pcg: pcg, rng: rand.New(pcg)}
	}
	epochSeed := mix(l.cfg.Seed, uint64(epoch)+1)
	var wg sync.WaitGroup
	for index, start := 0, 0; start < len(order); index, start = index+1, start+l.cfg.BatchSize {
		var b *Batch
		select {
		case b = <-it.free:
		case <-it.done:
			return
		}
		idx := order[start:min(start+l.cfg.BatchSize, len(order))]
		b.N, b.Index = len(idx), index
		// Split the batch into one contiguous share per worker.
		share := (len(idx) + len(workers) - 1) / len(workers)
		for w, wk := range workers {
			lo, hi := w*share, min((w+1)*share, len(idx))
			if lo >= hi {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l.fill(b, wk, idx, start, lo, hi, epochSeed)
			}()
		}
		wg.Wait()
		select {
		case it.ready <- b:
		case <-it.done:
			return
		}
	}
}

// fill prepares samples lo..hi of a batch: ToTensor, the transform, then the
// copy into the batch buffer. Each sample's random stream depends only on the
// epoch seed and its position in the epoch.
func (l *Loader) fill(b *Batch, wk *worker, idx []int, start, lo, hi int, epochSeed uint64) {
	size := l.cfg.W * l.cfg.H
	for j := lo; j < hi; j++ {
		i := idx[j]
		ToTensor(wk.im, l.src.Image(i))
		if l.cfg.Transform != nil {
			wk.pcg.Seed(epochSeed, uint64(start+j))
			l.cfg.Transform.Apply(wk.im, wk.rng)
		}
		copy(b.X[j*size:(j+1)*size], wk.im.Pix)
		b.Y[j] = int64(l.src.Label(i))
	}
}

// Stream yields batches without end, epoch after epoch from epoch 0, for
// benchmarks and warm-ups that want a steady supply. Close it when done.
type Stream struct {
	loader *Loader
	epoch  int
	it     *Iter
}

// Stream starts an endless supply of batches.
func (l *Loader) Stream() *Stream { return &Stream{loader: l, it: l.Epoch(0)} }

// Next returns the next batch, starting the next epoch when one ends. The
// batch stays valid until the following call to Next (or Close).
func (s *Stream) Next() *Batch {
	for {
		if b, ok := s.it.Next(); ok {
			return b
		}
		s.it.Close()
		s.epoch++
		s.it = s.loader.Epoch(s.epoch)
	}
}

// Close stops the current epoch's background work.
func (s *Stream) Close() { s.it.Close() }
