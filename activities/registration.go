// Package activities holds examflow's side effects: database, object store,
// registry and notifications. Every activity is idempotent, so a retry or a
// worker crash never does anything twice.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"

	"github.com/examflow/examflow/cases"
	"github.com/examflow/examflow/storage"
)

// Registration holds the registration activities.
type Registration struct {
	Store *storage.Store
}

// RecordStageInput is the input of the RecordStage activity.
type RecordStageInput struct {
	RegistrationID string      `json:"registration_id"`
	Stage          cases.Stage `json:"stage"`
	At             time.Time   `json:"at"`
}

// RecordStage writes a stage the lifecycle entered to PostgreSQL.
// Purpose (T01): arranging the test; the stage history is part of the case.
func (a *Registration) RecordStage(ctx context.Context, in RecordStageInput) error {
	id, err := uuid.Parse(in.RegistrationID)
	if err != nil {
		return temporal.NewNonRetryableApplicationError("registration_id is not a UUID", cases.ErrorInvalidInput, err)
	}
	err = a.Store.RecordStage(ctx, id, string(in.Stage), in.At)
	if errors.Is(err, storage.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError("registration not found", cases.ErrorNotFound, err)
	}
	if err != nil {
		return fmt.Errorf("record stage: %w", err)
	}
	return nil
}

// remarshal converts a decoded JSON value (map) into a typed value.
func remarshal(from, to any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, to)
}
