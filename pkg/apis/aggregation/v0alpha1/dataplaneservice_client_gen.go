package v0alpha1

import (
	"context"

	"github.com/grafana/grafana-app-sdk/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type DataPlaneServiceClient struct {
	client *resource.TypedClient[*DataPlaneService, *DataPlaneServiceList]
}

func NewDataPlaneServiceClient(client resource.Client) *DataPlaneServiceClient {
	return &DataPlaneServiceClient{
		client: resource.NewTypedClient[*DataPlaneService, *DataPlaneServiceList](client, DataPlaneServiceKind()),
	}
}

func NewDataPlaneServiceClientFromGenerator(generator resource.ClientGenerator) (*DataPlaneServiceClient, error) {
	c, err := generator.ClientFor(DataPlaneServiceKind())
	if err != nil {
		return nil, err
	}
	return NewDataPlaneServiceClient(c), nil
}

func (c *DataPlaneServiceClient) Get(ctx context.Context, identifier resource.Identifier) (*DataPlaneService, error) {
	return c.client.Get(ctx, identifier)
}

func (c *DataPlaneServiceClient) List(ctx context.Context, namespace string, opts resource.ListOptions) (*DataPlaneServiceList, error) {
	return c.client.List(ctx, namespace, opts)
}

func (c *DataPlaneServiceClient) ListAll(ctx context.Context, namespace string, opts resource.ListOptions) (*DataPlaneServiceList, error) {
	resp, err := c.client.List(ctx, namespace, resource.ListOptions{
		ResourceVersion: opts.ResourceVersion,
		Limit:           opts.Limit,
		LabelFilters:    opts.LabelFilters,
		FieldSelectors:  opts.FieldSelectors,
	})
	if err != nil {
		return nil, err
	}
	for resp.GetContinue() != "" {
		page, err := c.client.List(ctx, namespace, resource.ListOptions{
			Continue:        resp.GetContinue(),
			ResourceVersion: opts.ResourceVersion,
			Limit:           opts.Limit,
			LabelFilters:    opts.LabelFilters,
			FieldSelectors:  opts.FieldSelectors,
		})
		if err != nil {
			return nil, err
		}
		resp.SetContinue(page.GetContinue())
		resp.SetResourceVersion(page.GetResourceVersion())
		resp.SetItems(append(resp.GetItems(), page.GetItems()...))
	}
	return resp, nil
}

func (c *DataPlaneServiceClient) Create(ctx context.Context, obj *DataPlaneService, opts resource.CreateOptions) (*DataPlaneService, error) {
	// Make sure apiVersion and kind are set
	obj.APIVersion = GroupVersion.Identifier()
	obj.Kind = DataPlaneServiceKind().Kind()
	return c.client.Create(ctx, obj, opts)
}

func (c *DataPlaneServiceClient) Update(ctx context.Context, obj *DataPlaneService, opts resource.UpdateOptions) (*DataPlaneService, error) {
	return c.client.Update(ctx, obj, opts)
}

func (c *DataPlaneServiceClient) Patch(ctx context.Context, identifier resource.Identifier, req resource.PatchRequest, opts resource.PatchOptions) (*DataPlaneService, error) {
	return c.client.Patch(ctx, identifier, req, opts)
}

func (c *DataPlaneServiceClient) UpdateStatus(ctx context.Context, identifier resource.Identifier, newStatus DataPlaneServiceStatus, opts resource.UpdateOptions) (*DataPlaneService, error) {
	return c.client.Update(ctx, &DataPlaneService{
		TypeMeta: metav1.TypeMeta{
			Kind:       DataPlaneServiceKind().Kind(),
			APIVersion: GroupVersion.Identifier(),
		},
		ObjectMeta: metav1.ObjectMeta{
			ResourceVersion: opts.ResourceVersion,
			Namespace:       identifier.Namespace,
			Name:            identifier.Name,
		},
		Status: newStatus,
	}, resource.UpdateOptions{
		Subresource:     "status",
		ResourceVersion: opts.ResourceVersion,
	})
}

func (c *DataPlaneServiceClient) Delete(ctx context.Context, identifier resource.Identifier, opts resource.DeleteOptions) error {
	return c.client.Delete(ctx, identifier, opts)
}
