package history

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// importCopy is Import on PostgreSQL: it allocates the deploy IDs, then streams deploys,
// statuses and objects with COPY in one pgx transaction that holds the status-log lock, as
// every transaction appending statuses does.
func (s *sqlStore) importCopy(ctx context.Context, recs []Deploy, ds []DeployDetail) ([]int64, error) {
	if s.closed.Load() {
		return nil, errClosedStore
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("get connection: %w", err)
	}
	defer conn.Close()
	var ids []int64
	err = conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("not a pgx connection")
		}
		return pgx.BeginFunc(ctx, sc.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, s.d.eventLock); err != nil {
				return fmt.Errorf("lock status log: %w", err)
			}
			rows, err := tx.Query(ctx, s.d.rebind(s.d.nextDeployIDs), len(recs))
			if err != nil {
				return fmt.Errorf("allocate deploy ids: %w", err)
			}
			ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil || len(ids) != len(recs) {
				return fmt.Errorf("allocate deploy ids: got %d of %d: %w", len(ids), len(recs), err)
			}
			deployCols := []string{"id", "app", "team", "environment", "cluster", "repository", "commit_sha", "commit_author",
				"commit_time", "commit_message", "images", "digest", "warnings", "rendered", "trigger_kind", "triggered_by", "reason", "forced",
				"state", "message", "started_at", "finished_at"}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"deploys"}, deployCols, pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
				a, err := deployArgs(&recs[i])
				return append([]any{ids[i]}, a...), err
			})); err != nil {
				return fmt.Errorf("copy deploys: %w", err)
			}
			var statuses, objects [][]any
			for i := range ds {
				for _, st := range ds[i].Statuses {
					statuses = append(statuses, []any{ids[i], st.Time.UnixMicro(), string(st.State), st.Step, st.Message})
				}
				for _, o := range ds[i].Objects {
					if o.Kind == "" || o.Name == "" || o.Version == "" {
						return fmt.Errorf("object %s/%s needs version, kind and name: %w", o.Kind, o.Name, ErrInvalid)
					}
					objects = append(objects, []any{ids[i], o.Group, o.Version, o.Kind, o.Namespace, o.Name, string(o.Action)})
				}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"statuses"}, []string{"deploy_id", "at", "state", "step", "message"}, pgx.CopyFromRows(statuses)); err != nil {
				return fmt.Errorf("copy statuses: %w", err)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"objects"}, []string{"deploy_id", "grp", "version", "kind", "namespace", "name", "action"}, pgx.CopyFromRows(objects)); err != nil {
				return fmt.Errorf("copy objects: %w", err)
			}
			for _, u := range s.appEnvUpserts(recs, ids) {
				if _, err := tx.Exec(ctx, u.query, u.args...); err != nil {
					return fmt.Errorf("record app environments: %w", err)
				}
			}
			return nil
		})
	})
	return ids, err
}
