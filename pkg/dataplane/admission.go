package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"gomodules.xyz/jsonpatch/v2"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/dataplane-aggregator/dpa/pkg/apis/aggregation/v0alpha1"
	"github.com/dataplane-aggregator/dpa/pkg/provisioning"
)

func init() {
	handle(v0alpha1.DataPlaneServiceServiceTypeAdmission, serviceHandler{prepare: (*call).prepareAdmission})
}

// prepareAdmission reads and checks a k8s AdmissionReview v1 (validate or mutate; 400 for a
// malformed one) and builds the plugin's request before the plugin is asked for. An
// operation the plugin protocol cannot carry is answered here, without the plugin.
func (c *call) prepareAdmission(w http.ResponseWriter) (pluginCall, *httpError) {
	body, herr := c.readBody(w)
	if herr != nil {
		return nil, herr
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, errBadRequest("invalid AdmissionReview: %v", err)
	}
	if review.Request == nil {
		return nil, errBadRequest("invalid AdmissionReview: request is missing")
	}
	if review.APIVersion != "" && review.APIVersion != "admission.k8s.io/v1" {
		return nil, errBadRequest("unsupported AdmissionReview apiVersion %q (want admission.k8s.io/v1)", review.APIVersion)
	}
	in := review.Request
	// What the API server always sends; without it there is nothing to admit.
	switch {
	case in.UID == "":
		return nil, errBadRequest("invalid AdmissionReview: request.uid is missing")
	case in.Kind.Kind == "" || in.Kind.Version == "":
		return nil, errBadRequest("invalid AdmissionReview: request.kind needs a version and a kind")
	case (in.Operation == admissionv1.Create || in.Operation == admissionv1.Update) && len(rawBytes(in.Object)) == 0:
		return nil, errBadRequest("invalid AdmissionReview: a %s request needs request.object", in.Operation)
	case (in.Operation == admissionv1.Update || in.Operation == admissionv1.Delete) && len(rawBytes(in.OldObject)) == 0:
		return nil, errBadRequest("invalid AdmissionReview: a %s request needs request.oldObject", in.Operation)
	}
	// The review names the namespace the plugin's call is about.
	c.t.ns, c.org = in.Namespace, 0
	if info, err := provisioning.ParseNamespace(in.Namespace); in.Namespace != "" && err == nil {
		c.org = info.OrgID
	}
	out := &admissionv1.AdmissionResponse{UID: in.UID}

	var op pluginv2.AdmissionRequest_Operation
	switch in.Operation {
	case admissionv1.Create:
		op = pluginv2.AdmissionRequest_CREATE
	case admissionv1.Update:
		op = pluginv2.AdmissionRequest_UPDATE
	case admissionv1.Delete:
		op = pluginv2.AdmissionRequest_DELETE
	default:
		// The plugin protocol has no CONNECT: fail closed, never silently allow.
		out.Allowed = false
		out.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest,
			Reason:  metav1.StatusReasonBadRequest,
			Message: fmt.Sprintf("operation %s cannot be evaluated: plugin admission supports CREATE, UPDATE and DELETE", in.Operation)}
		c.err = fmt.Errorf("unsupported admission operation %s", in.Operation)
		replyAdmission(w, out)
		return nil, nil
	}

	req := &pluginv2.AdmissionRequest{
		Operation:      op,
		Kind:           &pluginv2.GroupVersionKind{Group: in.Kind.Group, Version: in.Kind.Version, Kind: in.Kind.Kind},
		ObjectBytes:    rawBytes(in.Object),
		OldObjectBytes: rawBytes(in.OldObject),
	}
	sdkKind := isSDKKind(in.Kind.Group, in.Kind.Kind)
	if sdkKind {
		var err error
		if req.ObjectBytes, err = encodeSDKObject(in.Kind.Kind, in.Kind.Version, rawBytes(in.Object)); err != nil {
			return nil, errBadRequest("request.object: %v", err)
		}
		if req.OldObjectBytes, err = encodeSDKObject(in.Kind.Kind, in.Kind.Version, rawBytes(in.OldObject)); err != nil {
			return nil, errBadRequest("request.oldObject: %v", err)
		}
	}
	return func(ctx context.Context, w http.ResponseWriter) { c.admitObject(ctx, w, in, req, out, sdkKind) }, nil
}

// replyAdmission answers with an AdmissionReview holding out (HTTP 200, as webhooks must).
func replyAdmission(w http.ResponseWriter, out *admissionv1.AdmissionResponse) {
	writeJSON(w, http.StatusOK, admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{Kind: "AdmissionReview", APIVersion: "admission.k8s.io/v1"},
		Response: out,
	})
}

// admitObject asks the plugin to validate or mutate. A plugin denial is answered with
// allowed:false and the plugin's status (HTTP 200), as webhooks must.
func (c *call) admitObject(ctx context.Context, w http.ResponseWriter, in *admissionv1.AdmissionRequest,
	req *pluginv2.AdmissionRequest, out *admissionv1.AdmissionResponse, sdkKind bool) {
	reply := func() { replyAdmission(w, out) }
	pc := c.pluginContext()
	if in.UserInfo.Username != "" {
		pc.User = &pluginv2.User{Login: in.UserInfo.Username, Name: in.UserInfo.Username}
		if v := in.UserInfo.Extra["email"]; len(v) > 0 {
			pc.User.Email = v[0]
		}
	}
	req.PluginContext = pc
	if c.plugin.AdmissionControlClient == nil {
		c.fail(w, classify(errUnimplemented, c.e.pluginID, "admission"))
		return
	}

	// The two calls differ only in mutate returning the changed object.
	var (
		allowed  bool
		result   *pluginv2.StatusResult
		warnings []string
		mutated  []byte
	)
	if c.t.action == "validate" {
		resp, err := c.plugin.ValidateAdmission(ctx, req)
		if err != nil {
			c.failErr(w, err, "ValidateAdmission")
			return
		}
		allowed, result, warnings = resp.Allowed, resp.Result, resp.Warnings
	} else {
		resp, err := c.plugin.MutateAdmission(ctx, req)
		if err != nil {
			c.failErr(w, err, "MutateAdmission")
			return
		}
		allowed, result, warnings, mutated = resp.Allowed, resp.Result, resp.Warnings, resp.ObjectBytes
	}
	out.Allowed = allowed
	out.Warnings = warnings
	out.Result = admissionStatus(allowed, result)
	if !allowed {
		c.err = fmt.Errorf("denied: %s", out.Result.Message)
		reply()
		return
	}
	original := rawBytes(in.Object)
	if sdkKind && len(mutated) > 0 {
		var err error
		if mutated, err = decodeSDKObject(in.Kind.Kind, in.Kind.Version, c.e.pluginID, mutated, original); err != nil {
			c.fail(w, &httpError{code: http.StatusBadGateway, reason: metav1.StatusReasonInternalError,
				msg: fmt.Sprintf("plugin %s: MutateAdmission returned a %s that cannot be decoded: %v", c.e.pluginID, in.Kind.Kind, err)})
			return
		}
	}
	if len(mutated) > 0 && len(original) > 0 {
		ops, err := jsonpatch.CreatePatch(original, mutated)
		if err != nil {
			c.fail(w, &httpError{code: http.StatusBadGateway, reason: metav1.StatusReasonInternalError,
				msg: fmt.Sprintf("plugin %s: MutateAdmission returned an object that cannot be diffed: %v", c.e.pluginID, err)})
			return
		}
		if len(ops) > 0 {
			patch, err := json.Marshal(ops)
			if err != nil {
				c.fail(w, classify(err, c.e.pluginID, "MutateAdmission"))
				return
			}
			pt := admissionv1.PatchTypeJSONPatch
			out.Patch = patch // base64 in JSON
			out.PatchType = &pt
		}
	}
	reply()
}

func rawBytes(r runtime.RawExtension) []byte {
	if len(r.Raw) == 0 || string(r.Raw) == "null" {
		return nil
	}
	return r.Raw
}

func admissionStatus(allowed bool, r *pluginv2.StatusResult) *metav1.Status {
	if allowed && r == nil {
		return nil
	}
	st := &metav1.Status{Status: metav1.StatusSuccess}
	if !allowed {
		st.Status = metav1.StatusFailure
		st.Code = http.StatusForbidden
		st.Reason = metav1.StatusReasonForbidden
		st.Message = "denied by plugin"
	}
	if r != nil {
		if r.Status != "" {
			st.Status = r.Status
		}
		if r.Message != "" {
			st.Message = r.Message
		}
		if r.Reason != "" {
			st.Reason = metav1.StatusReason(r.Reason)
		}
		if r.Code != 0 {
			st.Code = r.Code
		}
	}
	return st
}
