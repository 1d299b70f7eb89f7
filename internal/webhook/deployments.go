package webhook

import (
	"context"

	"github.com/hangarhq/hangar/internal/wire"
)

// Deployments hears what deployments do (it implements the deployment
// service's Observer) and announces it: deployment.* for every change,
// deployment_run.* for scheduled runs (manual runs send none, as the
// deployments' observer contract says). The observer is told after the
// change committed, so these are queued in a transaction of their own: a
// crash between the two loses the webhook (the deployment service does
// not offer its transactions yet).
type Deployments struct{ S *Service }

// DeploymentChanged queues deployment.<what>.
func (o Deployments) DeploymentChanged(ctx context.Context, ws, what string, d wire.Deployment) {
	o.emit(ctx, ws, Data{Type: "deployment." + what, ID: d.ID})
}

// RunStarted queues deployment_run.started for a scheduled run.
func (o Deployments) RunStarted(ctx context.Context, ws string, run wire.DeploymentRun) {
	if run.TriggerContext.Type != wire.TriggerSchedule {
		return
	}
	o.emit(ctx, ws, Data{Type: "deployment_run.started", ID: run.ID})
}

// RunFinished queues deployment_run.succeeded or deployment_run.failed
// for a scheduled run.
func (o Deployments) RunFinished(ctx context.Context, ws string, run wire.DeploymentRun) {
	if run.TriggerContext.Type != wire.TriggerSchedule {
		return
	}
	t := "deployment_run.succeeded"
	if run.Error != nil {
		t = "deployment_run.failed"
	}
	o.emit(ctx, ws, Data{Type: t, ID: run.ID})
}

func (o Deployments) emit(ctx context.Context, ws string, d Data) {
	if o.S == nil {
		return
	}
	if err := o.S.Emit(context.WithoutCancel(ctx), ws, d); err != nil {
		o.S.log.Error("queue webhook", "type", d.Type, "id", d.ID, "err", err)
	}
}
