package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
)

// conversionReview mirrors apiextensions.k8s.io/v1 ConversionReview (wire format only).
type conversionReview struct {
	metav1.TypeMeta `json:",inline"`
	Request         *conversionRequest  `json:"request,omitempty"`
	Response        *conversionResponse `json:"response,omitempty"`
}

type conversionRequest struct {
	UID               types.UID              `json:"uid"`
	DesiredAPIVersion string                 `json:"desiredAPIVersion"`
	Objects           []runtime.RawExtension `json:"objects"`
}

type conversionResponse struct {
	UID              types.UID              `json:"uid"`
	ConvertedObjects []runtime.RawExtension `json:"convertedObjects"`
	Result           metav1.Status          `json:"result"`
}

func init() {
	handle(v0alpha1.DataPlaneServiceServiceTypeConversion, serviceHandler{prepare: (*call).prepareConversion})
}

// prepareConversion reads and checks the ConversionReview (400) before the plugin is asked
// for.
func (c *call) prepareConversion(w http.ResponseWriter) (pluginCall, *httpError) {
	body, herr := c.readBody(w)
	if herr != nil {
		return nil, herr
	}
	var review conversionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, errBadRequest("invalid ConversionReview: %v", err)
	}
	if review.Request == nil {
		return nil, errBadRequest("invalid ConversionReview: request is missing")
	}
	_, version, ok := strings.Cut(review.Request.DesiredAPIVersion, "/")
	if !ok {
		version = review.Request.DesiredAPIVersion
	}
	if version == "" {
		return nil, errBadRequest("invalid ConversionReview: desiredAPIVersion %q", review.Request.DesiredAPIVersion)
	}
	return func(ctx context.Context, w http.ResponseWriter) { c.convert(ctx, w, &review) }, nil
}

func (c *call) convert(ctx context.Context, w http.ResponseWriter, review *conversionReview) {
	in := review.Request
	group, version, ok := strings.Cut(in.DesiredAPIVersion, "/")
	if !ok {
		group, version = "", in.DesiredAPIVersion
	}
	req := &pluginv2.ConversionRequest{
		PluginContext: c.pluginContext(),
		Uid:           string(in.UID),
		TargetVersion: &pluginv2.GroupVersion{Group: group, Version: version},
		Objects:       make([]*pluginv2.RawObject, 0, len(in.Objects)),
	}
	for _, o := range in.Objects {
		req.Objects = append(req.Objects, &pluginv2.RawObject{Raw: o.Raw, ContentType: "application/json"})
	}
	if c.plugin.ResourceConversionClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "ConvertObjects"))
		return
	}
	resp, err := c.plugin.ConvertObjects(ctx, req)
	if err != nil {
		c.failErr(w, err, "ConvertObjects")
		return
	}
	out := &conversionResponse{UID: in.UID, ConvertedObjects: []runtime.RawExtension{},
		Result: metav1.Status{Status: metav1.StatusSuccess}}
	failed := resp.Result != nil && resp.Result.Status != "" && resp.Result.Status != metav1.StatusSuccess
	if failed {
		out.Result = metav1.Status{Status: metav1.StatusFailure, Message: resp.Result.Message,
			Reason: metav1.StatusReason(resp.Result.Reason), Code: resp.Result.Code}
		if out.Result.Message == "" {
			out.Result.Message = "conversion failed in plugin " + c.e.pluginID
		}
		c.err = fmt.Errorf("conversion failed: %s", out.Result.Message)
	} else {
		if len(resp.Objects) != len(in.Objects) {
			out.Result = metav1.Status{Status: metav1.StatusFailure,
				Message: fmt.Sprintf("plugin %s returned %d objects for %d", c.e.pluginID, len(resp.Objects), len(in.Objects))}
			c.err = fmt.Errorf("%s", out.Result.Message)
		} else {
			for _, o := range resp.Objects {
				out.ConvertedObjects = append(out.ConvertedObjects, runtime.RawExtension{Raw: o.Raw})
			}
		}
	}
	apiVersion := review.APIVersion
	if apiVersion == "" {
		apiVersion = "apiextensions.k8s.io/v1"
	}
	writeJSON(w, http.StatusOK, conversionReview{
		TypeMeta: metav1.TypeMeta{Kind: "ConversionReview", APIVersion: apiVersion},
		Response: out,
	})
}
