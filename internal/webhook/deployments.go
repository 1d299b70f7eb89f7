package webhook

import (
	"context"

	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/wire"
)

// Deployments hears what deployments do (it implements the deployment
// service's Observer) and announces it: deployment.* for every change,
// deployment_run.* for scheduled runs (manual runs send none, as the
// deployments' observer contract says), each queued in the transaction of
// the change it announces.
type Deployments struct{ S *Service }

// DeploymentChanged queues deployment.<what>.
func (o Deployments) DeploymentChanged(ctx context.Context, tx store.Tx, ws, what string, d wire.Deployment) (func(), error) {
	return o.S.EmitTx(ctx, tx, ws, Data{Type: "deployment." + what, ID: d.ID})
}

// RunStarted queues deployment_run.started for a scheduled run.
func (o Deployments) RunStarted(ctx context.Context, tx store.Tx, ws string, run wire.DeploymentRun) (func(), error) {
	if run.TriggerContext.Type != wire.TriggerSchedule {
		return nil, nil
	}
	return o.S.EmitTx(ctx, tx, ws, Data{Type: "deployment_run.started", ID: run.ID})
}

// RunFinished queues deployment_run.succeeded or deployment_run.failed
// for a scheduled run.
func (o Deployments) RunFinished(ctx context.Context, tx store.Tx, ws string, run wire.DeploymentRun) (func(), error) {
	if run.TriggerContext.Type != wire.TriggerSchedule {
		return nil, nil
	}
	t := "deployment_run.succeeded"
	if run.Error != nil {
		t = "deployment_run.failed"
	}
	return o.S.EmitTx(ctx, tx, ws, Data{Type: t, ID: run.ID})
}
