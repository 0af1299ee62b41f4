package provider

// Tag helpers shared by the EC2 and EKS resources: diff two tag maps and
// apply the difference.

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
)

// tagDiff returns what to add or update and which keys to remove.
func tagDiff(old, new map[string]string) (map[string]string, []string) {
	add := map[string]string{}
	var remove []string
	for k, v := range new {
		if ov, ok := old[k]; !ok || ov != v {
			add[k] = v
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	return add, remove
}

// ec2Tags is tags as EC2 takes them, sorted by key.
// ec2TagMap is the inverse of ec2Tags.
func ec2TagMap(tags []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func ec2Tags(tags map[string]string) []ec2types.Tag {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]ec2types.Tag, 0, len(keys))
	for _, k := range keys {
		out = append(out, ec2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

// retagLaunchTemplate moves the EC2 object id (a launch template) from
// oldTags to newTags.
func retagLaunchTemplate(ctx context.Context, c *ec2.Client, id string, oldTags, newTags map[string]string) error {
	add, remove := tagDiff(oldTags, newTags)
	if len(remove) > 0 {
		var tags []ec2types.Tag
		for _, k := range remove {
			tags = append(tags, ec2types.Tag{Key: aws.String(k)})
		}
		if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: tags}); err != nil {
			return fmt.Errorf("DeleteTags %s: %w", id, err)
		}
	}
	if len(add) > 0 {
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: ec2Tags(add)}); err != nil {
			return fmt.Errorf("CreateTags %s: %w", id, err)
		}
	}
	return nil
}

// retagEKSResource moves the EKS resource arn from oldTags to newTags.
func retagEKSResource(ctx context.Context, c *eks.Client, arn string, oldTags, newTags map[string]string) error {
	add, remove := tagDiff(oldTags, newTags)
	if len(remove) > 0 {
		if _, err := c.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: remove}); err != nil {
			return fmt.Errorf("UntagResource %s: %w", arn, err)
		}
	}
	if len(add) > 0 {
		if _, err := c.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String(arn), Tags: add}); err != nil {
			return fmt.Errorf("TagResource %s: %w", arn, err)
		}
	}
	return nil
}
