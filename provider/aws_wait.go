package provider

// Waiters: poll an AWS object until it reaches a state, with the timeouts
// the resources use.

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
)

const (
	nodegroupStateTimeout  = 30 * time.Minute
	nodegroupUpdateTimeout = 60 * time.Minute
)

// waitNodegroupActive waits until a new node group is ACTIVE.
func waitNodegroupActive(ctx context.Context, c *eks.Client, cluster, name string) error {
	in := &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)}
	return eks.NewNodegroupActiveWaiter(c).Wait(ctx, in, nodegroupStateTimeout)
}

// waitNodegroupDeleted waits until a deleted node group is gone.
func waitNodegroupDeleted(ctx context.Context, c *eks.Client, cluster, name string) error {
	in := &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)}
	return eks.NewNodegroupDeletedWaiter(c).Wait(ctx, in, nodegroupStateTimeout)
}

// waitNodegroupUpdate polls an EKS update until it leaves InProgress.
func waitNodegroupUpdate(ctx context.Context, c *eks.Client, cluster, nodegroup string, u *ekstypes.Update) error {
	if u == nil || u.Status == ekstypes.UpdateStatusSuccessful {
		return nil // moto answers Successful at once (and has no DescribeUpdate)
	}
	ctx, cancel := context.WithTimeout(ctx, nodegroupUpdateTimeout)
	defer cancel()
	for {
		out, err := c.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String(cluster), NodegroupName: aws.String(nodegroup), UpdateId: u.Id})
		if err != nil {
			return fmt.Errorf("DescribeUpdate %s: %w", aws.ToString(u.Id), err)
		}
		switch out.Update.Status {
		case ekstypes.UpdateStatusSuccessful:
			return nil
		case ekstypes.UpdateStatusFailed, ekstypes.UpdateStatusCancelled:
			var msgs []string
			for _, e := range out.Update.Errors {
				msgs = append(msgs, aws.ToString(e.ErrorMessage))
			}
			return fmt.Errorf("update %s %s: %s", aws.ToString(u.Id), out.Update.Status, strings.Join(msgs, "; "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("update %s still in progress: %w", aws.ToString(u.Id), ctx.Err())
		case <-time.After(10 * time.Second):
		}
	}
}
