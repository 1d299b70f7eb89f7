// Package server is the composition root: it opens the data directory,
// picks the implementations the configuration asks for, wires them into the
// API and runs the HTTP server until its context ends.
package server

import (
	"context"
	"errors"
	"fmt"
	"github.com/hangarhq/hangar/internal/api/sessions"
	"github.com/hangarhq/hangar/internal/deploy"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/hangarhq/hangar/internal/api"
	"github.com/hangarhq/hangar/internal/blob"
	"github.com/hangarhq/hangar/internal/changes"
	"github.com/hangarhq/hangar/internal/config"
	"github.com/hangarhq/hangar/internal/dream"
	"github.com/hangarhq/hangar/internal/egress/live"
	"github.com/hangarhq/hangar/internal/engine"
	"github.com/hangarhq/hangar/internal/events"
	"github.com/hangarhq/hangar/internal/keys"
	"github.com/hangarhq/hangar/internal/mcp/sessionmcp"
	"github.com/hangarhq/hangar/internal/model"
	"github.com/hangarhq/hangar/internal/model/modeltest"
	"github.com/hangarhq/hangar/internal/model/providers"
	"github.com/hangarhq/hangar/internal/pricing"
	"github.com/hangarhq/hangar/internal/sandbox"
	"github.com/hangarhq/hangar/internal/sandbox/docker"
	"github.com/hangarhq/hangar/internal/sandbox/local"
	"github.com/hangarhq/hangar/internal/sandboxworker"
	"github.com/hangarhq/hangar/internal/sessionbox"
	"github.com/hangarhq/hangar/internal/sessionres"
	"github.com/hangarhq/hangar/internal/store"
	"github.com/hangarhq/hangar/internal/store/sqlite"
	"github.com/hangarhq/hangar/internal/tool/hostexec"
	"github.com/hangarhq/hangar/internal/tool/web"
	"github.com/hangarhq/hangar/internal/vault"
	"github.com/hangarhq/hangar/internal/webhook"
	"github.com/hangarhq/hangar/internal/workqueue"
)

// Data is the opened data directory.
type Data struct {
	Store  store.Store
	Sealer *vault.Sealer
	Blobs  *blob.FS
}

// OpenData opens (creating if needed) the database, master key and blob
// directory under dir. masterKey, if set, overrides the key file.
func OpenData(ctx context.Context, dir, masterKey string) (*Data, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var key []byte
	var err error
	if masterKey != "" {
		if key, err = vault.ParseKey(masterKey); err != nil {
			return nil, fmt.Errorf("HANGAR_MASTER_KEY: %w", err)
		}
	} else if key, err = vault.LoadOrCreateKeyFile(filepath.Join(dir, "master.key")); err != nil {
		return nil, err
	}
	sealer, err := vault.NewSealer(key)
	if err != nil {
		return nil, err
	}
	blobs, err := blob.NewFS(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "hangar.db"))
	if err != nil {
		return nil, err
	}
	return &Data{Store: st, Sealer: sealer, Blobs: blobs}, nil
}

// Close releases the data directory.
func (d *Data) Close() error { return d.Store.Close() }

// Run serves until ctx ends, then shuts down gracefully. It prints the
// listening address (and, on a first start without HANGAR_API_KEY, the
// generated administrator key) to out.
func Run(ctx context.Context, cfg config.Config, out io.Writer, log *slog.Logger) error {
	data, err := OpenData(ctx, cfg.DataDir, cfg.MasterKey)
	if err != nil {
		return err
	}
	defer data.Close()
	if cfg.APIKey == "" {
		plain, err := keys.FirstAdmin(ctx, data.Store, api.DefaultWorkspace)
		if err != nil {
			return err
		}
		if plain != "" {
			fmt.Fprintf(out, "hangar: created administrator API key (shown only once, store it now):\n\n    %s\n\n", plain)
		}
	}
	models, closeModels, err := modelRouter(cfg, log)
	if err != nil {
		return err
	}
	defer closeModels()
	// prices is the list-price table every model request is priced with:
	// usage's list_cost and budgets (the engine; the sessions API reads it
	// from the engine to check a budget's models at create).
	prices, err := cfg.LoadPrices()
	if err != nil {
		return err
	}
	logPrices(log, prices)
	broker := events.NewLocal(log)
	defer broker.Close()
	queue := workqueue.New(data.Store, workqueue.Options{})
	// Webhooks before the engine: its commits queue their deliveries.
	hooks := webhook.New(data.Store, data.Sealer, log, webhook.Options{AllowPrivate: cfg.WebhookAllowPrivate, RetryBase: cfg.WebhookRetryBase})
	if err := hooks.Start(ctx); err != nil {
		return fmt.Errorf("start webhooks: %w", err)
	}
	defer hooks.Close()
	deps := engine.Deps{Store: data.Store, Models: models, Broker: broker, Workers: queueWorkers{queue}, Prices: prices, Outbox: hooks, Logger: log}
	// sb is the sandboxes and what is built around them, when there are
	// any: the egress proxy of the sandboxes (cloud sessions' web_fetch
	// leaves through it too (proxies), and changes to vaults, credentials,
	// environments and sessions reach it live (egressChanges, which also
	// tells the resources of deleted and redacted memory)), the
	// sessions' resources and the intake of their in-sandbox workers.
	var sb *sandboxes
	var proxies web.Proxies
	var egressChanges changes.Notifier
	// noSandbox is why built-in tools cannot run, told in their results.
	var noSandbox string
	switch cfg.Sandbox {
	case "local", "docker":
		var err error
		sb, err = newSandboxes(ctx, cfg, data, queue, log)
		if err != nil {
			// The server still serves everything else; tool calls then
			// report that no sandbox is available, and why.
			fix := sandboxRemedy(cfg.Sandbox)
			log.Error("sandbox backend unavailable: built-in tools cannot run", "sandbox", cfg.Sandbox, "err", err, "fix", fix)
			noSandbox = fmt.Sprintf("the server's sandbox backend (--sandbox %s) could not start: %v. %s.", cfg.Sandbox, err, fix)
		} else {
			log.Info("sandbox backend", "sandbox", cfg.Sandbox, "pool", cfg.SandboxPool)
			// Cloud sessions' sandbox tools run in a worker inside their
			// sandbox, queued through the intake: one execution path for
			// cloud and self-hosted sessions.
			deps.SandboxWorkers = sb.intake
			deps.Tools, deps.Sandboxes, deps.Outputs, deps.Memory = sb.box, sb.box, sb.box, sb.box
			proxies, egressChanges = sb.egress, changes.All(sb.egress, sb.res)
		}
	case "none":
		log.Info("sandbox backend", "sandbox", "none")
		noSandbox = "the server runs with --sandbox none; start it with --sandbox local (bubblewrap) or docker for built-in tools to run."
	case "unsafe-host":
		log.Warn("sandbox backend: built-in tools run directly on this host without isolation (--sandbox unsafe-host)")
		x, err := hostexec.New(filepath.Join(cfg.DataDir, "workspaces"))
		if err != nil {
			return err
		}
		defer x.Close()
		deps.Tools = x
	}
	// Built after the engine and the API, which need the sandboxes: what
	// reports back to them (the sandboxes' workers, failed clones).
	var disp *sandboxworker.Dispatcher
	var reports *sessionres.Reporter
	// After the engine: sandboxes stop first, which ends their workers.
	defer func() {
		if sb != nil {
			sb.close(disp, reports)
		}
	}()
	wd := web.DepsFromEnv(web.SessionPolicy(data.Store, proxies), log)
	wd.NoSandbox = noSandbox
	deps.Tools = web.Wrap(deps.Tools, wd)
	deps.MCP = sessionmcp.New(data.Store, data.Sealer, deps.Tools, log, sessionmcp.WithWebhooks(hooks))
	eng := engine.New(deps, engine.Options{AutoModel: cfg.PermissionModel, AutoTimeout: cfg.PermissionTimeout})
	if err := eng.Start(ctx); err != nil {
		return fmt.Errorf("resume sessions: %w", err)
	}
	defer eng.Close()
	dreams := dream.New(data.Store, models, log)
	if err := dreams.Start(ctx); err != nil {
		return fmt.Errorf("recover dreams: %w", err)
	}
	defer dreams.Close()
	// Deployments create sessions through the very create path of
	// POST /v1/sessions; they stop firing before the engine closes.
	deployments := deploy.New(deploy.Options{
		Store: data.Store, Sealer: data.Sealer, Logger: log, Observer: webhook.Deployments{S: hooks},
		Sessions: sessions.New(data.Store, eng, broker, log, sessions.WithBlobs(data.Blobs),
			sessions.WithSealer(data.Sealer), sessions.WithNotifier(egressChanges), sessions.WithWebhooks(hooks)),
	})
	if err := deployments.Start(ctx); err != nil {
		return fmt.Errorf("schedule deployments: %w", err)
	}
	defer deployments.Close()
	opts := api.Options{
		Store: data.Store, Sealer: data.Sealer, Blobs: data.Blobs, Logger: log,
		AdminKey: cfg.APIKey, MaxUploadBytes: cfg.MaxUploadBytes,
		Engine: eng, Broker: broker, WorkQueue: queue, Changes: egressChanges, Dreams: dreams,
		Deployments: deployments,
		Webhooks:    hooks,
	}
	if sb != nil {
		opts.SandboxWork = sb.intake.Session
	}
	handler := api.New(opts)
	if sb != nil {
		reports = sessionres.NewReporter(sb.res, eng)
		disp = sandboxworker.New(ctx, sandboxworker.Config{Queue: queue, Intake: sb.intake, Launcher: sb.launcher,
			Sandboxes: sb.box, Engine: eng, API: handler, Logger: log})
	}
	if cfg.DebugListen != "" {
		go serveDebug(ctx, cfg.DebugListen, log)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "data_dir", cfg.DataDir)
	fmt.Fprintf(out, "hangar: listening on http://%s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Streams are long-lived; ending them first lets Shutdown finish.
	broker.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sandboxes are the parts built around a sandbox backend before the
// engine, which needs them.
type sandboxes struct {
	egress   *live.Egress
	res      *sessionres.Resources
	launcher *sandboxworker.Launcher
	box      *sessionbox.Sandboxes
	intake   *sandboxworker.Intake
}

// newSandboxes builds the sandbox backend the configuration names (local:
// bubblewrap, docker: the Docker Engine), with cfg.SandboxPool sandboxes
// kept started for new sessions where the backend can hand them over; it
// reports an error when the backend is unavailable, and the caller runs
// without sandboxes then.
func newSandboxes(ctx context.Context, cfg config.Config, data *Data, queue *workqueue.Queue, log *slog.Logger) (*sandboxes, error) {
	var backend sandbox.Backend
	var err error
	switch cfg.Sandbox {
	case "docker":
		backend, err = docker.New(ctx, docker.Config{StateDir: filepath.Join(cfg.DataDir, "sandboxes"), Logger: log})
	default:
		backend, err = local.New(local.Config{StateDir: filepath.Join(cfg.DataDir, "sandboxes"), Logger: log})
	}
	if err != nil {
		return nil, err
	}
	creds := vault.NewCredentials(data.Store, data.Sealer)
	eg, err := live.New(cfg.DataDir, data.Store, creds, log)
	if err != nil {
		return nil, err
	}
	res := sessionres.New(sessionres.Config{DataDir: cfg.DataDir, Store: data.Store, Blobs: data.Blobs, Egress: eg,
		RepoToken: creds.ResourceToken, Logger: log})
	launcher := sandboxworker.NewLauncher(ctx, log)
	box := sessionbox.New(ctx, sessionbox.Config{Backend: backend, Store: data.Store, Egress: eg, Resources: res,
		DataDir: cfg.DataDir, PoolSize: cfg.SandboxPool, PoolStart: launcher.Prestart, Logger: log})
	return &sandboxes{egress: eg, res: res, launcher: launcher, box: box, intake: sandboxworker.NewIntake(queue, box)}, nil
}

// close shuts the sandboxes down, then what was built around them.
func (s *sandboxes) close(disp *sandboxworker.Dispatcher, reports *sessionres.Reporter) {
	s.box.Close()
	s.launcher.Close()
	if disp != nil {
		disp.Close()
	}
	if reports != nil {
		reports.Close()
	}
	s.egress.Close()
}

// sandboxRemedy says what brings the named backend up when it could not
// start, for the log and for the tool results of a server without one; the
// backend's error names the cause.
func sandboxRemedy(kind string) string {
	if kind == "docker" {
		return "Fix that on the server's host and restart the server (scripts/start-docker starts Docker and builds the sandbox image), or start it with --sandbox local"
	}
	return "Fix that on the server's host and restart the server (scripts/serve installs bubblewrap and starts it), or start it with --sandbox docker"
}

// queueWorkers adapts the work queue to the engine's Workers.
type queueWorkers struct{ q *workqueue.Queue }

func (w queueWorkers) Enqueue(ctx context.Context, ws, env, sessionID string) error {
	_, err := w.q.Enqueue(ctx, ws, env, sessionID)
	return err
}

// serveDebug serves pprof until ctx ends.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("debug listener", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("debug listener", "err", err)
	}
}

// logPrices says at start how many models have a list price, and how many
// entries came from the prices file.
func logPrices(log *slog.Logger, prices *pricing.Table) {
	n, file := prices.FromFile()
	if file == "" {
		log.Info(fmt.Sprintf("prices: %d models, built-in list prices only", prices.Len()))
		return
	}
	log.Info(fmt.Sprintf("prices: %d models, %d from %s", prices.Len(), n, file))
}

// modelRouter builds the model routing table, or in demo mode starts the
// scripted fake upstream and routes every model to it.
func modelRouter(cfg config.Config, log *slog.Logger) (*model.Router, func(), error) {
	settings := cfg.Models
	closeFn := func() {}
	if cfg.DemoModel {
		fake, err := modeltest.StartAnthropic(modeltest.Options{Rule: modeltest.DemoRule, MaxRecorded: -1})
		if err != nil {
			return nil, nil, fmt.Errorf("start demo model: %w", err)
		}
		closeFn = func() { _ = fake.Close() }
		settings.Models = "*=anthropic:" + fake.URL
		log.Warn("demo mode: every model request is answered by a scripted fake model, not a real one")
		// --models and the built-in claude-* route are never reached, so
		// listing them would mislead.
		log.Info("model routes", "routes", "*=demo:"+fake.URL+" (every model goes to the scripted demo model)")
	}
	mc, err := settings.Resolve(os.LookupEnv)
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	router, err := providers.NewRouter(mc, providers.Options{})
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	if !cfg.DemoModel {
		log.Info("model routes", "routes", mc)
	}
	return router, closeFn, nil
}
