package provider

// AWS error classification shared by every AWS-backed resource, as
// terraform-provider-aws keeps it beside its resources (tfresource.NotFound).

import (
	"errors"

	"github.com/aws/smithy-go"
)

// isAWSNotFound recognises the "it is gone" answers of EKS, EC2 and S3.
func isAWSNotFound(err error) bool {
	return isAWSErrorCode(err, "ResourceNotFoundException", "NotFound", "NoSuchBucket",
		"InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.Malformed")
}

// isAWSErrorCode reports whether err is an AWS API error with one of codes.
func isAWSErrorCode(err error, codes ...string) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, c := range codes {
		if apiErr.ErrorCode() == c {
			return true
		}
	}
	return false
}

// awsErrorMessage is the message of an AWS API error, or err's text.
func awsErrorMessage(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorMessage()
	}
	return err.Error()
}
