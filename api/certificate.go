package api

import (
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/examflow/examflow/marking"
)

// CertificateEntry is the result a certificate shows for one part of one
// test: the candidate's latest and best ("siste og beste").
type CertificateEntry struct {
	TestType       string    `json:"test_type"`
	Part           string    `json:"part"`
	Result         string    `json:"result"`
	DecidedAt      time.Time `json:"decided_at"`
	RegistrationID string    `json:"registration_id"`
}

// certificate answers the latest and best released result per test and
// part, across all the candidate's registrations.
func (s *server) certificate(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	rs, err := s.Store.ReleasedResults(c.Request.Context(), id)
	if err != nil {
		s.failed(c, err, "the database is unavailable")
		return
	}
	byTest := map[string][]marking.PartResult{}
	regOf := map[[3]string]string{}
	for _, r := range rs {
		byTest[r.TestType] = append(byTest[r.TestType], marking.PartResult{Part: r.Part, Result: r.Result, DecidedAt: r.DecidedAt})
		regOf[[3]string{r.TestType, r.Part, r.DecidedAt.String() + r.Result}] = r.RegistrationID.String()
	}
	out := []CertificateEntry{}
	for test, results := range byTest {
		for part, best := range marking.LatestAndBest(results) {
			out = append(out, CertificateEntry{TestType: test, Part: part, Result: best.Result, DecidedAt: best.DecidedAt,
				RegistrationID: regOf[[3]string{test, part, best.DecidedAt.String() + best.Result}]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TestType != out[j].TestType {
			return out[i].TestType < out[j].TestType
		}
		return out[i].Part < out[j].Part
	})
	c.JSON(http.StatusOK, gin.H{"candidate_id": id.String(), "results": out})
}
