package dashboard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Sketch geometry. Bucket 0 holds durations under sketchMin; bucket i ≥ 1
// holds [sketchMin·2^((i-1)/4), sketchMin·2^(i/4)); the last bucket also
// holds everything longer. A quantile is answered with the geometric middle
// of its bucket, so it is within 2^(1/8)−1 ≈ 9% of the true value for
// durations between 1 ms and about 2.4 years.
const (
	sketchMin       = time.Millisecond
	sketchPerOctave = 4
	sketchBuckets   = 1 + 36*sketchPerOctave // up to 2^36 ms ≈ 2.2 years
)

// Sketch is a small mergeable quantile sketch of durations: counts in fixed
// log-scale buckets. Two sketches merge by adding counts, so the sketch of
// an edge is the merge of its agencies' sketches. The zero value is empty
// and ready to use.
type Sketch struct {
	counts []uint64 // by bucket; trailing zero buckets trimmed
	n      uint64
}

func sketchBucket(d time.Duration) int {
	if d < sketchMin {
		return 0
	}
	i := 1 + int(math.Floor(sketchPerOctave*math.Log2(float64(d)/float64(sketchMin))))
	return min(i, sketchBuckets-1)
}

// sketchValue is the representative duration of bucket i: the geometric
// middle of its bounds (0 for bucket 0).
func sketchValue(i int) time.Duration {
	if i == 0 {
		return 0
	}
	return time.Duration(float64(sketchMin) * math.Exp2((float64(i)-0.5)/sketchPerOctave))
}

// Add counts one duration. Negative durations count as zero.
func (s *Sketch) Add(d time.Duration) {
	i := sketchBucket(d)
	if i >= len(s.counts) {
		s.counts = append(s.counts, make([]uint64, i+1-len(s.counts))...)
	}
	s.counts[i]++
	s.n++
}

// Merge adds the counts of o to s.
func (s *Sketch) Merge(o Sketch) {
	if len(o.counts) > len(s.counts) {
		s.counts = append(s.counts, make([]uint64, len(o.counts)-len(s.counts))...)
	}
	for i, c := range o.counts {
		s.counts[i] += c
	}
	s.n += o.n
}

// Count is the number of durations added.
func (s Sketch) Count() uint64 { return s.n }

// Quantile returns the duration under which a fraction q (0–1) of the
// added durations fall, within the sketch's relative error, and false when
// the sketch is empty.
func (s Sketch) Quantile(q float64) (time.Duration, bool) {
	if s.n == 0 {
		return 0, false
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(s.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			return sketchValue(i), true
		}
	}
	return sketchValue(len(s.counts) - 1), true
}

// appendSketch encodes s: the number of non-empty buckets, then for each
// the gap from the previous bucket index and its count, as uvarints.
func appendSketch(b []byte, s Sketch) []byte {
	nonEmpty := 0
	for _, c := range s.counts {
		if c > 0 {
			nonEmpty++
		}
	}
	b = binary.AppendUvarint(b, uint64(nonEmpty))
	prev := -1
	for i, c := range s.counts {
		if c == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(i-prev))
		b = binary.AppendUvarint(b, c)
		prev = i
	}
	return b
}

var errSketch = errors.New("malformed sketch")

// readSketch decodes a sketch written by appendSketch from the front of b
// and returns the rest.
func readSketch(b []byte) (Sketch, []byte, error) {
	var s Sketch
	n, b, err := uvarint(b)
	if err != nil {
		return s, nil, err
	}
	if n > sketchBuckets {
		return s, nil, fmt.Errorf("%w: %d buckets, at most %d", errSketch, n, sketchBuckets)
	}
	prev := -1
	for range n {
		var gap, c uint64
		if gap, b, err = uvarint(b); err != nil {
			return s, nil, err
		}
		if c, b, err = uvarint(b); err != nil {
			return s, nil, err
		}
		if gap == 0 || gap > sketchBuckets || prev+int(gap) >= sketchBuckets {
			return s, nil, fmt.Errorf("%w: bucket index out of range", errSketch)
		}
		if c == 0 || s.n+c < s.n {
			return s, nil, fmt.Errorf("%w: bad count", errSketch)
		}
		i := prev + int(gap)
		if i >= len(s.counts) {
			s.counts = append(s.counts, make([]uint64, i+1-len(s.counts))...)
		}
		s.counts[i] = c
		s.n += c
		prev = i
	}
	return s, b, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errors.New("truncated or overlong varint")
	}
	return v, b[n:], nil
}

func varint(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, errors.New("truncated or overlong varint")
	}
	return v, b[n:], nil
}
