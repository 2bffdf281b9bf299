"""svc_crm: contacts, companies, leads, pipelines, opportunities, activities."""
